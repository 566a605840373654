"""The Pulumi mock runtime of the offline plan: deterministic IDs and ARNs, and a record of every resource.

Deterministic: the same program and config give the same IDs, so plans can be compared and golden-tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor

MOCK_ACCOUNT = "123456789012"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
SIG_KEY = "4dabf18193072939515e22adb298388d"
MASK = "[secret]"

DYNAMIC = "pulumi-python:dynamic:Resource"
# Inputs the SDK adds to a dynamic resource: the pickled provider, not something the program declared.
_DYNAMIC_INTERNALS = ("__provider",)
# EC2 ID prefixes per resource type, as AWS shapes them.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    "aws:ec2/flowLog:FlowLog": "fl-",
    "aws:ec2/instance:Instance": "i-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:ec2/capacityReservation:CapacityReservation": "cr-",
    "aws:fsx/lustreFileSystem:LustreFileSystem": "fs-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
}


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


# Every account id this process made up for a new account (the plan shows them marked: AWS gives the real ones).
MADE_UP_ACCOUNTS: set[str] = set()


def _account_id(digest: str) -> str:
    made_up = str(int(digest[:12], 16) % 10**12).zfill(12)  # a 12-digit account id
    MADE_UP_ACCOUNTS.add(made_up)
    return made_up


def made_up_account_id(account_stack: str) -> str:
    """The id the offline plan gives the new account of ``account_stack`` (TenantAccount names it
    ``<stack>-account``): made up, as AWS gives the real one only when the account is created."""
    return _account_id(_digest(account_stack, "aws:organizations/account:Account", f"{account_stack}-account"))


@dataclass(frozen=True)
class RecordedResource:
    type: str
    name: str
    urn: str
    id: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    # What the provider answered (the mock's outputs here; the engine's state under CrossGuard).
    outputs: dict[str, Any] = field(default_factory=dict)
    # Property name -> URNs of the resources its value was computed from (Pulumi's property dependencies).
    deps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The URN of the provider resource it is created through; None for the default provider (our account).
    provider: str | None = None
    # Every URN it waits for: explicit depends_on and through its inputs, sorted.
    dependencies: tuple[str, ...] = ()
    # Left in the cloud when its stack is destroyed (Pulumi's retainOnDelete).
    retain_on_delete: bool = False
    # `pulumi destroy` refuses it until `pulumi state unprotect` (Pulumi's protect).
    protect: bool = False


def wire_to_plain(value: Any) -> Any:
    """Pulumi's wire values as plain JSON: keys sorted, secrets masked, resource references as their URN,
    whole floats as ints.
    """
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return MASK
        if sig == RESOURCE_SIG:
            return value.get("urn")
        # Sorted: the SDK serialises inputs in an order that varies between processes.
        return {k: wire_to_plain(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [wire_to_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Event loops the SDK's MockMonitor makes in the SDK's worker threads (one per thread: ``_ensure_event_loop``)
# and never closes; gpucloud.plan.runner.close_event_loop closes them before the interpreter exits.
THREAD_LOOPS: set[asyncio.AbstractEventLoop] = set()


def _note_thread_loop() -> None:
    with contextlib.suppress(RuntimeError):  # a thread without a loop leaves nothing to close
        THREAD_LOOPS.add(asyncio.get_event_loop_policy().get_event_loop())


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also keeps, in order, what each registration asked for (with its parent)."""

    def Invoke(self, request: Any) -> Any:
        try:
            return super().Invoke(request)  # type: ignore[no-untyped-call]
        finally:
            _note_thread_loop()

    def ReadResource(self, request: Any) -> Any:
        try:
            return super().ReadResource(request)  # type: ignore[no-untyped-call]
        finally:
            _note_thread_loop()

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self._engine_urns: dict[str, str] = {}  # the mock's URN -> the URN the Pulumi engine would give

    def _engine_urn(self, parent: str, type_: str, name: str) -> str:
        """Pulumi's URN: the parent's whole type chain, then this type (the mock keeps only the last link)."""
        if not parent:
            return f"urn:pulumi:{settings.get_stack()}::{settings.get_project()}::{type_}::{name}"
        parent_urn = self._engine_urns.get(parent, parent)
        chain = parent_urn.split("::")[2]
        return f"urn:pulumi:{settings.get_stack()}::{settings.get_project()}::{chain}${type_}::{name}"

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        _note_thread_loop()
        urn = self._engine_urn(request.parent, request.type, request.name)
        self._engine_urns[response.urn] = urn
        if request.type != "pulumi:pulumi:Stack":
            parent = self._engine_urns.get(request.parent) if request.parent else None
            if parent is not None and "::pulumi:pulumi:Stack::" in parent:
                parent = None  # top level: the root stack is not shown
            inputs = wire_to_plain(json_format.MessageToDict(request.object))
            if request.type == DYNAMIC:
                inputs = {k: v for k, v in inputs.items() if k not in _DYNAMIC_INTERNALS}
            deps = {
                prop: tuple(sorted(self._engine_urns.get(u, u) for u in dep.urns))
                for prop, dep in request.propertyDependencies.items()
                if dep.urns
            }
            waits = {self._engine_urns.get(u, u) for u in request.dependencies}
            waits.update(u for urns in deps.values() for u in urns)
            provider = None
            if request.provider:  # "<urn>::<id>" of the provider resource it goes through
                provider_urn = request.provider.rsplit("::", 1)[0]
                provider = self._engine_urns.get(provider_urn, provider_urn)
            self.recorded.append(
                RecordedResource(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    id=response.id,
                    parent=parent,
                    custom=bool(request.custom),
                    inputs=inputs,
                    outputs=wire_to_plain(json_format.MessageToDict(response.object)),
                    deps=deps,
                    provider=provider,
                    dependencies=tuple(sorted(waits)),
                    retain_on_delete=bool(request.retainOnDelete),
                    protect=bool(request.protect),
                )
            )
        return response


class PlanMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes as AWS would shape them, without AWS."""

    def __init__(self, *, stack: str, region: str, stack_outputs: dict[str, dict[str, Any]]) -> None:
        self.stack = stack
        self.region = region
        self.stack_outputs = stack_outputs  # fully qualified stack name -> its exports
        self.provider_accounts: dict[str, str] = {}  # a provider's id -> the one account it may act in

    def _account_of(self, provider: str | None) -> str:
        """The account a resource or an invoke acts in: its provider's one allowed account, else the stack's own."""
        return self.provider_accounts.get(str(provider or "").rsplit("::", 1)[-1], MOCK_ACCOUNT)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            name = str(args.inputs.get("name", args.name))
            exports = self.stack_outputs.get(name)
            if exports is None:
                raise LookupError(f"StackReference {name}: no offline plan of that stack")
            return name, {"name": name, "outputs": exports, "secretOutputNames": []}
        if args.typ.startswith("pulumi:providers:"):
            pid = f"{args.name}-provider"
            allowed = outputs.get("allowedAccountIds")
            allowed = json.loads(allowed) if isinstance(allowed, str) and allowed.startswith("[") else allowed
            if isinstance(allowed, list) and len(allowed) == 1:
                self.provider_accounts[pid] = str(allowed[0])
            return pid, outputs
        digest = _digest(self.stack, args.typ, args.name)
        if args.typ == DYNAMIC:  # the carve of a reservation: a new reservation of ours
            rid = f"cr-{digest}"
            arn = f"arn:aws:ec2:{self.region}:{MOCK_ACCOUNT}:capacity-reservation/{rid}"
            return rid, {**outputs, "reservation_id": rid, "reservation_arn": arn}
        if args.typ == "aws:organizations/account:Account":
            rid = _account_id(digest)
            return rid, {**outputs, "id": rid, "arn": f"arn:aws:organizations::{MOCK_ACCOUNT}:account/{rid}"}
        service = args.typ.split(":")[1].split("/")[0]
        kind = args.typ.rsplit(":", 1)[-1]
        rid = _ID_PREFIX.get(args.typ, "") + digest
        if args.typ == "aws:s3/bucket:Bucket":
            rid = outputs.get("bucket") or f"{args.name}-{digest[:8]}"
            if prefix := outputs.get("bucketPrefix"):  # pulumi-aws appends 26 characters of its own
                rid = prefix + _digest(self.stack, args.typ, args.name, length=26)
            outputs["bucket"] = rid
            outputs["arn"] = f"arn:aws:s3:::{rid}"
        elif args.typ == "aws:kms/key:Key":
            h = _digest(self.stack, args.typ, args.name, length=32)
            rid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            outputs["keyId"] = rid
            outputs["arn"] = f"arn:aws:kms:{self.region}:{MOCK_ACCOUNT}:key/{rid}"
        elif service == "iam":
            rid = outputs.get("name") or f"{args.name}-{digest[:7]}"
            outputs.setdefault("name", rid)
            path = {"Role": "role", "Policy": "policy", "InstanceProfile": "instance-profile"}.get(kind)
            if kind == "ServiceLinkedRole":  # AWS names it: role/aws-service-role/<service>/AWSServiceRoleFor...
                service_name = str(outputs.get("awsServiceName", "service.amazonaws.com"))
                role = "AWSServiceRoleFor" + service_name.split(".")[0].title()
                account = self._account_of(args.provider)
                rid = f"arn:aws:iam::{account}:role/aws-service-role/{service_name}/{role}"
                outputs["arn"] = rid
                outputs["name"] = role
            elif path:  # IAM ARNs carry the entity's path: role/gpucloud/gpucloud-operator
                outputs["arn"] = f"arn:aws:iam::{MOCK_ACCOUNT}:{path}{outputs.get('path') or '/'}{rid}"
        elif args.typ == "aws:ec2/placementGroup:PlacementGroup":
            rid = outputs.get("name") or f"{args.name}-{digest[:7]}"
            outputs["name"] = rid
            outputs["placementGroupId"] = f"pg-{digest}"
            outputs["arn"] = f"arn:aws:ec2:{self.region}:{MOCK_ACCOUNT}:placement-group/{rid}"
        elif args.typ == "aws:ec2/capacityReservation:CapacityReservation":
            outputs["arn"] = f"arn:aws:ec2:{self.region}:{MOCK_ACCOUNT}:capacity-reservation/{rid}"
        elif args.typ == "aws:organizations/organizationalUnit:OrganizationalUnit":
            rid = f"ou-{digest[:4]}-{digest[4:12]}"
            outputs["arn"] = f"arn:aws:organizations::{MOCK_ACCOUNT}:ou/o-mock/{rid}"
        elif args.typ == "aws:organizations/policy:Policy":
            rid = f"p-{digest[:8]}"
            outputs["arn"] = f"arn:aws:organizations::{MOCK_ACCOUNT}:policy/o-mock/service_control_policy/{rid}"
        elif args.typ == "aws:secretsmanager/secret:Secret":
            name = outputs.get("name") or f"{outputs.get('namePrefix', args.name)}{digest[:26]}"
            outputs["name"] = name
            # Secrets Manager appends a hyphen and six random characters to the name in the ARN.
            outputs["arn"] = f"arn:aws:secretsmanager:{self.region}:{MOCK_ACCOUNT}:secret:{name}-{digest[:6]}"
            rid = outputs["arn"]
        elif args.typ == "aws:ram/resourceShare:ResourceShare":
            outputs["arn"] = f"arn:aws:ram:{self.region}:{MOCK_ACCOUNT}:resource-share/{digest}"
        else:
            outputs.setdefault("arn", f"arn:aws:{service}:{self.region}:{MOCK_ACCOUNT}:{kind.lower()}/{rid}")
        if args.typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            outputs["prefixListId"] = f"pl-{digest[:8]}"
        if args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            outputs["latestVersion"] = 1  # a new template's first version
        if args.typ == "aws:fsx/lustreFileSystem:LustreFileSystem":
            outputs["dnsName"] = f"{rid}.fsx.{self.region}.amazonaws.com"
        outputs.setdefault("id", rid)
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            # Through a provider pinned to one account, the caller is in that account (as AWS would answer).
            account = self._account_of(args.provider)
            return {
                "accountId": account,
                "arn": f"arn:aws:iam::{account}:user/plan",
                "id": account,
                "userId": "PLAN",
            }, []
        if args.token == "aws:index/getAvailabilityZone:getAvailabilityZone":
            zone_id = str(args.args.get("zoneId"))
            # AZ names are shuffled per account; the plan shows a stand-in that keeps the AZ ID visible.
            return {"zoneId": zone_id, "name": f"{self.region}({zone_id})", "region": self.region}, []
        if args.token == "aws:ec2/getPrefixList:getPrefixList":
            pid = str(args.args.get("prefixListId"))
            return {"id": pid, "prefixListId": pid, "name": f"com.amazonaws.{self.region}.s3", "cidrBlocks": []}, []
        if args.token == "aws:organizations/getOrganization:getOrganization":
            # Our organization's accounts as Organizations lists them: the plan knows only the management account
            # (every other id is made up or the config's); `pulumi up` asks AWS.
            management = {"id": MOCK_ACCOUNT, "arn": f"arn:aws:organizations::{MOCK_ACCOUNT}:account", "email": "",
                          "name": "management", "status": "ACTIVE"}  # fmt: skip
            return {"id": "o-mock", "accounts": [management], "nonMasterAccounts": [], "roots": []}, []
        if args.token == "aws:iam/getRole:getRole":
            # An adopted account's access role, as AWS documents making it by hand: trusting the management account.
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                     "Principal": {"AWS": f"arn:aws:iam::{MOCK_ACCOUNT}:root"}}]}  # fmt: skip
            name = str(args.args.get("name"))
            account = self._account_of(args.provider)
            arn = f"arn:aws:iam::{account}:role/{name}"
            return {"id": name, "name": name, "arn": arn, "assumeRolePolicy": json.dumps(trust)}, []
        if args.token == "aws:iam/getRoles:getRoles":
            # The roles a listing finds: none before our stacks make them (a fresh account, or an adopted one whose
            # operator followed README's checklist); the plan cannot look.
            return {"arns": [], "names": [], "pathPrefix": args.args.get("pathPrefix"), "id": self.region}, []
        return {**args.args, "id": _digest(args.token, str(sorted(args.args.items())))}, []
