"""What `gpucloud nodes configure` says about a failed task: Ansible's message, or what the command printed
when Ansible only says it exited non-zero."""

from __future__ import annotations

from gpucloud.nodes import RunResult, _failure_text, no_hosts_reason


def test_a_command_that_only_exited_non_zero_is_explained_by_its_last_stderr_line() -> None:
    res = {"msg": "non-zero return code", "stderr": "INFO loading\nnvidia-ctk: failed to initialize NVML: ERROR_X\n"}
    assert _failure_text(res, "failed") == "non-zero return code: nvidia-ctk: failed to initialize NVML: ERROR_X"


def test_a_module_message_is_kept_as_it_is() -> None:
    res = {"msg": "gpucloud_sku=p9.huge is not in the GPU catalog", "stderr": "noise"}
    assert _failure_text(res, "failed") == "gpucloud_sku=p9.huge is not in the GPU catalog"


def test_no_message_at_all_falls_back_to_stderr_then_status() -> None:
    assert _failure_text({"stderr": "boom\n"}, "failed") == "boom"
    assert _failure_text({}, "unreachable") == "unreachable"


def test_a_failed_loop_says_what_its_first_failed_item_said() -> None:
    res = {
        "msg": "One or more items failed",
        "results": [
            {"item": "enroot_4.1.2-1_amd64.deb", "failed": False, "msg": "All assertions passed"},
            {"item": "enroot+caps_4.1.2-1_amd64.deb", "failed": True, "msg": "no sha256 pinned for enroot+caps"},
        ],
    }
    assert _failure_text(res, "failed") == "no sha256 pinned for enroot+caps"


# What ansible-core 2.19 printed here for a tenant inventory without its AWS profile (abridged: the plugins that
# also tried the file follow the aws_ec2 one).
UNLOADED_INVENTORY = """\
[WARNING]: Failed to parse inventory with 'ansible_collections.amazon.aws.plugins.inventory.aws_ec2' plugin: \
Couldn't connect to AWS: The config profile (gpucloud-tenant-beta) could not be found
[WARNING]: Failed to parse inventory with 'ansible_collections.ansible.builtin.plugins.inventory.yaml' plugin: \
Plugin configuration YAML file, not YAML inventory
[WARNING]: Unable to parse /r/inventories/tenants/beta/us-east-1.aws_ec2.yml as an inventory source
[ERROR]: No inventory was parsed, please check your configuration and options.
"""


def test_a_run_on_no_host_is_explained_by_the_first_plugin_that_failed() -> None:
    assert no_hosts_reason(UNLOADED_INVENTORY, None) == (
        "the inventory did not load: Couldn't connect to AWS: The config profile (gpucloud-tenant-beta) could not "
        "be found"
    )


def test_a_limit_that_matched_nothing_is_named() -> None:
    said = (
        "[WARNING]: Could not match supplied host pattern, ignoring: node-9\n"
        "[ERROR]: Specified inventory, host pattern and/or --limit leaves us with no hosts to target.\n"
    )
    assert no_hosts_reason(said, "node-9") == "no host matched --limit node-9"
    assert no_hosts_reason("", "gpu_nodes") == "no host matched --limit gpu_nodes"
    assert no_hosts_reason("", None) == "no host in the inventory was run"


def test_a_run_on_no_host_is_not_ok_unless_allowed() -> None:
    assert not RunResult("health", 0, "successful", []).ok
    assert RunResult("health", 0, "successful", [], "the inventory holds no host", allow_empty=True).ok
    assert not RunResult("health", 1, "failed", [], "the inventory did not load: x", allow_empty=True).ok
