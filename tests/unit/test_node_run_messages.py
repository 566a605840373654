"""What `gpucloud nodes configure` says about a failed task: Ansible's message, or what the command printed
when Ansible only says it exited non-zero."""

from __future__ import annotations

from gpucloud.nodes import _failure_text


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
