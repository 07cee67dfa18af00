"""The dossier status machine, with the national status codes (DVCQG ``TrangThaiHoSo``).

One table says which action may move a dossier from which status to which; anything else is a
409. The codes are what the national portal expects, so they are stored and shown as numbers.
"""

from __future__ import annotations

from enum import IntEnum

from dossiers.errors import IllegalTransition


class Status(IntEnum):
    """National status code of a dossier (DVCQG TrangThaiHoSo)."""

    NEW = 1  # Mới đăng ký
    RECEIVED = 2  # Được tiếp nhận
    REFUSED = 3  # Không được tiếp nhận
    PROCESSING = 4  # Đang xử lý
    SUPPLEMENT = 5  # Yêu cầu bổ sung giấy tờ
    AWAITING_PAYMENT = 6  # Yêu cầu thực hiện nghĩa vụ tài chính
    WITHDRAWN = 7  # Công dân yêu cầu rút hồ sơ
    STOPPED = 8  # Dừng xử lý
    PROCESSED = 9  # Đã xử lý xong
    RETURNED = 10  # Đã trả kết quả


LABELS_VI = {
    Status.NEW: "Mới đăng ký",
    Status.RECEIVED: "Được tiếp nhận",
    Status.REFUSED: "Không được tiếp nhận",
    Status.PROCESSING: "Đang xử lý",
    Status.SUPPLEMENT: "Yêu cầu bổ sung giấy tờ",
    Status.AWAITING_PAYMENT: "Yêu cầu thực hiện nghĩa vụ tài chính",
    Status.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    Status.STOPPED: "Dừng xử lý",
    Status.PROCESSED: "Đã xử lý xong",
    Status.RETURNED: "Đã trả kết quả",
}

CHANNELS = {1: "Trực tiếp", 2: "Trực tuyến", 3: "Qua bưu chính công ích"}

S = Status
# action -> {from status: to status}
TRANSITIONS: dict[str, dict[Status, Status]] = {
    "receive": {S.NEW: S.RECEIVED},
    "refuse": {S.NEW: S.REFUSED},
    "request_supplement": {
        S.NEW: S.SUPPLEMENT,
        S.RECEIVED: S.SUPPLEMENT,
        S.PROCESSING: S.SUPPLEMENT,
    },
    # Back to the counter's check when the dossier was never received, else back to work.
    "supplement_counter": {S.SUPPLEMENT: S.NEW},
    # Asked for at the counter after reception: it keeps its code and goes back to received.
    "supplement_received": {S.SUPPLEMENT: S.RECEIVED},
    "supplement_agency": {S.SUPPLEMENT: S.PROCESSING},
    "await_payment": {S.RECEIVED: S.AWAITING_PAYMENT, S.PROCESSING: S.AWAITING_PAYMENT},
    # Paid: back to where it waited, at the agency or still at the counter.
    "paid": {S.AWAITING_PAYMENT: S.PROCESSING},
    "paid_before_routing": {S.AWAITING_PAYMENT: S.RECEIVED},
    "route": {S.RECEIVED: S.PROCESSING},
    "take": {S.PROCESSING: S.PROCESSING},
    "forward": {S.PROCESSING: S.PROCESSING},
    "apology": {S.RECEIVED: S.RECEIVED, S.PROCESSING: S.PROCESSING, S.SUPPLEMENT: S.SUPPLEMENT},
    "finish": {S.PROCESSING: S.PROCESSED},
    "return": {S.PROCESSED: S.RETURNED},
    "withdraw": {
        s: S.WITHDRAWN for s in (S.NEW, S.RECEIVED, S.PROCESSING, S.SUPPLEMENT, S.AWAITING_PAYMENT)
    },
    "stop": {s: S.STOPPED for s in (S.RECEIVED, S.PROCESSING, S.SUPPLEMENT, S.AWAITING_PAYMENT)},
}

FINAL = frozenset({S.REFUSED, S.WITHDRAWN, S.STOPPED, S.RETURNED})
OPEN = frozenset({S.RECEIVED, S.PROCESSING, S.SUPPLEMENT, S.AWAITING_PAYMENT})
# What the counter may still do to a dossier's papers, by status (the API and the page ask here).
TAKES_PAPERS = frozenset({S.NEW, S.SUPPLEMENT, S.RECEIVED, S.PROCESSING})  # the checklist
TAKES_SCANS = OPEN | {S.NEW}
TAKES_REUSE = frozenset({S.NEW, S.SUPPLEMENT})


def next_status(action: str, current: int) -> Status:
    """The status ``action`` leads to from ``current``, or :class:`IllegalTransition`."""
    table = TRANSITIONS.get(action)
    if table is None:
        raise ValueError(f"unknown action {action!r}")
    status = Status(current)
    if status not in table:
        allowed = sorted(int(s) for s in table)
        raise IllegalTransition(
            f"cannot {action.replace('_', ' ')} a dossier in status {int(status)} "
            f"({LABELS_VI[status]}); it needs status {allowed}",
            current_status=int(status),
            action=action,
        )
    return table[status]
