"""The error a command handler raises to have a command rejected and logged."""

from __future__ import annotations

from ..protocol.enums import ErrorCode


class CommandError(Exception):
    """Rejects the current command: logged with its sequence number, the host keeps serving."""

    def __init__(self, code: ErrorCode, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def invalid(detail: str) -> CommandError:
    return CommandError(ErrorCode.INVALID_CALL, detail)


def unsupported(detail: str) -> CommandError:
    return CommandError(ErrorCode.UNSUPPORTED, detail)
