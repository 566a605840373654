"""A Secrets Manager for the booted-node lab: moto's server, run inside the lab network's own namespace
(``ip netns exec``), holding one secret. Prints the secret's ARN on its first line, then serves until killed.

    python tests/lab_secrets.py ADDRESS PORT NAME VALUE_FILE
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "lab", "aws_secret_access_key": "lab"}  # moto accepts any


def main(address: str, port: int, name: str, value_file: Path) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on the lab's output
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    server = ThreadedMotoServer(ip_address=address, port=port)
    server.start()
    client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=f"http://{address}:{port}", **CREDENTIALS)
    arn = client.create_secret(Name=name, SecretString=value_file.read_text())["ARN"]
    print(arn, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
