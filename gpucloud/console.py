"""The ``gpucloud`` console script (and ``python -m gpucloud``): the interrupt handler first, then the CLI.

Importing the CLI takes a fifth of a second and a command's own imports (Pulumi, Ansible) a second or more; the
handler is in place before any of it, so Ctrl-C at any moment ends the command the same way (gpucloud.interrupt).
"""


def run() -> None:
    from gpucloud import interrupt

    interrupt.install()
    from gpucloud.cli import run as cli_run

    try:
        cli_run()
    finally:
        interrupt.block()  # the command is done: a Ctrl-C while Python shuts down changes nothing
