"""What each problem ``code`` means and what the caller should do, in Vietnamese and English.

A problem's ``type`` is ``/problems/<code>``; ``GET /problems/{code}`` serves the entry from
here. The codes are those of the package errors (``core.errors.SohoaError`` and its
subclasses, with the codes passed where they are raised) and those the API answers itself
(``ApiProblem`` and the handlers in :mod:`api.problems`); ``tests/api/test_problem_types.py``
finds them in the code base and fails on one without an entry here, or an entry for a code
nothing raises any more.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Bilingual(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vi: str = Field(description="Tiếng Việt.")
    en: str = Field(description="English.")


class ProblemType(BaseModel):
    """The explanation of one problem code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="The stable reason code, as in a problem's ``code``.")
    type: str = Field(description="The problem's ``type`` URI: /problems/<code>.")
    title: Bilingual
    meaning: Bilingual = Field(description="What happened.")
    action: Bilingual = Field(description="What the caller should do about it.")


Pair = tuple[str, str]  # (Vietnamese, English)

# What the caller does, where many codes call for the same.
FIX: Pair = (
    "Sửa điều mà trường detail nêu rồi gửi lại yêu cầu.",
    "Correct what the detail names and send the request again.",
)
RETRY: Pair = (
    "Thử lại sau ít phút; nếu có tiêu đề Retry-After, chờ đúng số giây đó.",
    "Try again in a few minutes; if a Retry-After header is present, wait that many seconds.",
)
OPERATOR: Pair = (
    "Báo cho bộ phận vận hành, kèm mã yêu cầu (X-Request-ID); gửi lại y nguyên sẽ không giúp được.",
    "Tell the operator, quoting the request id (X-Request-ID); sending the same request again "
    "will not help.",
)
LOOKUP: Pair = (
    "Kiểm tra lại mã trong đường dẫn hoặc tham số. Đối tượng ngoài phạm vi đơn vị của bạn "
    "cũng được trả lời như không tồn tại.",
    "Check the identifier in the path or parameters. An object outside your units' scope is "
    "answered as if it did not exist.",
)
STATE: Pair = (
    "Đọc lại trạng thái hiện tại (GET) rồi làm bước mà trạng thái đó cho phép.",
    "Read the current state again (GET) and take a step it allows.",
)
ACCOUNT: Pair = (
    "Dùng tài khoản có vai trò và đơn vị phù hợp, hoặc đề nghị quản trị viên cấp quyền.",
    "Use an account with the right role and unit, or ask an administrator for the right.",
)
RESCAN: Pair = (
    "Quét lại giấy tờ, hoặc xuất lại tệp từ nguồn của nó, rồi tải lên tệp mới.",
    "Scan the paper again, or export the file again from its source, and upload the new file.",
)
SMALLER: Pair = (
    "Tách tệp thành nhiều phần, hoặc quét với độ phân giải thấp hơn (300 dpi là đủ cho giấy "
    "tờ), rồi tải lên lại.",
    "Split the file, or scan at a lower resolution (300 dpi is enough for papers), and upload "
    "again.",
)
RETRY_SCAN: Pair = (
    "Thử lại bản quét (POST /api/v1/scans/{id}/retry); nếu vẫn lỗi, báo bộ phận vận hành.",
    "Retry the scan (POST /api/v1/scans/{id}/retry); if it fails again, tell the operator.",
)
TIME_ZONE: Pair = (
    "Gửi thời điểm theo ISO 8601 kèm múi giờ, ví dụ 2026-11-27T09:00:00+07:00.",
    "Send the time in ISO 8601 with its offset, e.g. 2026-11-27T09:00:00+07:00.",
)
NOTHING: Pair = ("Không cần làm gì thêm.", "Nothing more needs doing.")

# code: (title, meaning, action), each a (Vietnamese, English) pair.
_ENTRIES: dict[str, tuple[Pair, Pair, Pair]] = {
    # -- the request itself -----------------------------------------------------------------
    "invalid_request": (
        ("Yêu cầu không hợp lệ", "Invalid request"),
        (
            "Tham số, đường dẫn hoặc thân JSON không đúng lược đồ của thao tác; trường errors nêu "
            "từng vị trí (loc) và lý do (msg).",
            "Parameters, path or JSON body do not match the operation's schema; errors gives "
            "each place (loc) and reason (msg).",
        ),
        (
            "Sửa theo danh sách errors, đối chiếu lược đồ tại /docs, rồi gửi lại.",
            "Correct each entry of errors, checking the schema at /docs, and send again.",
        ),
    ),
    "invalid_character": (
        ("Có ký tự NUL", "NUL character"),
        (
            "Đường dẫn hoặc một tham số có ký tự NUL, ký tự mà cơ sở dữ liệu không lưu được.",
            "The path or a query parameter holds a NUL character, which the database cannot store.",
        ),
        ("Bỏ ký tự đó rồi gửi lại.", "Remove that character and send again."),
    ),
    "repeated_parameter": (
        ("Tham số bị lặp", "Repeated parameter"),
        (
            "Một tham số truy vấn được gửi hơn một lần; dùng giá trị nào cũng là đoán.",
            "A query parameter was given more than once; using either value would be a guess.",
        ),
        ("Gửi mỗi tham số một lần.", "Send each parameter once."),
    ),
    "invalid_value": (
        ("Giá trị không lưu được", "Value cannot be stored"),
        (
            "Cơ sở dữ liệu từ chối một giá trị của yêu cầu (ký tự NUL, số quá lớn…).",
            "The database refused a value of the request (a NUL character, a number out of "
            "range …).",
        ),
        FIX,
    ),
    "request_too_large": (
        ("Yêu cầu quá lớn", "Request too large"),
        (
            "Thân yêu cầu lớn hơn mức thao tác cần (một yêu cầu OAI-PMH chỉ gồm vài tham số ngắn).",
            "The body is larger than the operation needs (an OAI-PMH request is a few short "
            "arguments).",
        ),
        FIX,
    ),
    "format_invalid": (
        ("Định dạng không hỗ trợ", "Format invalid"),
        ("Tham số format chỉ nhận json hoặc pdf.", "The format parameter is json or pdf."),
        FIX,
    ),
    "limit_invalid": (
        ("Giới hạn không hợp lệ", "Limit invalid"),
        ("Tham số limit nằm ngoài khoảng cho phép.", "limit is outside its allowed range."),
        FIX,
    ),
    "batch_invalid": (
        ("Kích thước lô không hợp lệ", "Batch size invalid"),
        (
            "Việc kiểm tra chuỗi nhật ký được yêu cầu với lô nhỏ hơn 1.",
            "The audit chain check was asked for with a batch size below 1.",
        ),
        FIX,
    ),
    "range_invalid": (
        ("Khoảng thời gian không hợp lệ", "Range invalid"),
        ("Ngày kết thúc trước ngày bắt đầu.", "The range ends before it starts."),
        FIX,
    ),
    "dates_invalid": (
        ("Khoảng ngày không hợp lệ", "Dates invalid"),
        ("Ngày kết thúc trước ngày bắt đầu.", "The end date is before the start date."),
        FIX,
    ),
    "day_mismatch": (
        ("Ngày không khớp", "Day mismatch"),
        (
            "Ngày trong thân yêu cầu khác ngày trong đường dẫn.",
            "The day in the body differs from the day in the path.",
        ),
        (
            "Gửi cùng một ngày ở đường dẫn và trong thân yêu cầu.",
            "Send the same day in the path and in the body.",
        ),
    ),
    "datetime_naive": (
        ("Thiếu múi giờ", "Time zone missing"),
        (
            "Một thời điểm được gửi không kèm múi giờ nên không xác định được.",
            "A date-time was sent without a time zone, so it names no instant.",
        ),
        TIME_ZONE,
    ),
    "time_invalid": (
        ("Thời điểm thiếu múi giờ", "Time zone missing"),
        ("since và until cần có múi giờ.", "since and until need a time zone."),
        TIME_ZONE,
    ),
    "working_days_invalid": (
        ("Số ngày làm việc không hợp lệ", "Working days invalid"),
        ("working_days phải từ 0 trở lên.", "working_days must be 0 or more."),
        FIX,
    ),
    "search_query_invalid": (
        ("Chuỗi tìm kiếm không hợp lệ", "Search query invalid"),
        (
            "Chuỗi tìm kiếm rỗng hoặc chỉ có khoảng trắng.",
            "The query has nothing to search for (empty or blank).",
        ),
        FIX,
    ),
    "invalid_input": (
        ("Dữ liệu không hợp lệ", "Invalid input"),
        (
            "Dữ liệu gửi lên trái một quy tắc nghiệp vụ, khi không có mã cụ thể hơn.",
            "The request breaks a rule of the service and no more specific code applies.",
        ),
        FIX,
    ),
    # -- HTTP and the API layer -----------------------------------------------------------------
    "not_found": (
        ("Không tìm thấy", "Not found"),
        (
            "Không có gì tại địa chỉ này, hoặc đối tượng nằm ngoài phạm vi của bạn.",
            "Nothing is at this address, or the object is outside your scope.",
        ),
        LOOKUP,
    ),
    "method_not_allowed": (
        ("Phương thức không được phép", "Method not allowed"),
        (
            "Địa chỉ này không nhận phương thức HTTP đã dùng; tiêu đề Allow liệt kê các phương "
            "thức được nhận.",
            "This address does not take the HTTP method used; the Allow header lists those it "
            "takes.",
        ),
        ("Dùng một phương thức có trong tiêu đề Allow.", "Use a method the Allow header lists."),
    ),
    "http_error": (
        ("Lỗi HTTP", "HTTP error"),
        (
            "Tầng HTTP từ chối yêu cầu trước khi nó tới dịch vụ.",
            "The HTTP layer refused the request before it reached the service.",
        ),
        FIX,
    ),
    "internal_error": (
        ("Lỗi máy chủ", "Internal error"),
        (
            "Một lỗi không lường trước; lỗi đã được ghi vào nhật ký của máy chủ.",
            "An unexpected error; it has been logged.",
        ),
        OPERATOR,
    ),
    "error": (
        ("Lỗi", "Error"),
        ("Một lỗi không có mã cụ thể hơn.", "A failure with no more specific code."),
        OPERATOR,
    ),
    # -- the web page's session -------------------------------------------------------------
    "session_missing": (
        ("Chưa đăng nhập", "Not signed in"),
        (
            "Trang này cần phiên đăng nhập của cán bộ; trình duyệt không gửi phiên nào.",
            "This page needs a staff session; the browser sent none.",
        ),
        (
            "Đăng nhập tại /web/login bằng mã truy cập (token) quản trị viên cấp cho bạn.",
            "Sign in at /web/login with the staff token your administrator gave you.",
        ),
    ),
    "session_expired": (
        ("Phiên đăng nhập đã hết", "The session has ended"),
        (
            "Phiên đã hết hạn do để máy không dùng quá lâu, đã đăng xuất, hoặc mã truy cập "
            "của bạn đã bị thu hồi.",
            "The session expired after the computer was left idle, was signed out, or your "
            "token was revoked.",
        ),
        (
            "Đăng nhập lại; nếu mã truy cập bị từ chối, xin quản trị viên cấp mã mới.",
            "Sign in again; if the token is refused, ask your administrator for a new one.",
        ),
    ),
    "csrf_failed": (
        ("Biểu mẫu đã cũ hoặc không hợp lệ", "The form is stale or not genuine"),
        (
            "Biểu mẫu được gửi không kèm mã chống giả mạo (CSRF) của phiên hiện tại: trang đã "
            "mở từ phiên trước, hoặc yêu cầu đến từ trang khác.",
            "The form came without the current session's anti-forgery (CSRF) token: the page "
            "was opened in an earlier session, or the request came from another site.",
        ),
        (
            "Tải lại trang rồi làm lại thao tác; dữ liệu chưa bị thay đổi.",
            "Reload the page and do it again; nothing has been changed.",
        ),
    ),
    "rate_limited": (
        ("Quá nhiều yêu cầu", "Too many requests"),
        (
            "Máy của bạn đã gửi quá nhiều yêu cầu (hoặc quá nhiều mã truy cập sai) trong khoảng "
            "thời gian cho phép.",
            "Your client sent too many requests (or too many wrong tokens) in the window.",
        ),
        (
            "Chờ số giây trong tiêu đề Retry-After (trường retry_after) rồi gửi lại.",
            "Wait the seconds of the Retry-After header (retry_after) and send again.",
        ),
    ),
    "url_invalid": (
        ("Đường dẫn tải không hợp lệ", "Link invalid"),
        (
            "Chữ ký của đường dẫn tải không đúng, hoặc đường dẫn đã hết hạn.",
            "The download link's signature is wrong, or the link has expired.",
        ),
        ("Lấy đường dẫn mới từ API.", "Ask the API for a new link."),
    ),
    "problem_type_not_found": (
        ("Không có loại lỗi này", "No such problem type"),
        (
            "Mã lỗi trong đường dẫn không có trong danh mục giải thích.",
            "The code in the path is not one this service explains.",
        ),
        (
            "Mở đúng đường dẫn trong trường type của lỗi nhận được.",
            "Follow the type URI of the problem you received, as given.",
        ),
    ),
    # -- who may do what ------------------------------------------------------------------------
    "unauthorized": (
        ("Chưa xác thực", "Unauthorized"),
        (
            "Không có mã truy cập (token), hoặc mã không đúng, đã bị thu hồi hay đã hết hạn.",
            "No bearer token, or an unknown, revoked or expired one.",
        ),
        (
            "Gửi tiêu đề Authorization: Bearer <token> với mã còn hiệu lực; xin mã mới từ quản "
            "trị viên nếu cần.",
            "Send Authorization: Bearer <token> with a valid token; ask an administrator for a "
            "new one if needed.",
        ),
    ),
    "forbidden": (
        ("Không có quyền", "Forbidden"),
        ("Tài khoản của bạn không được làm việc này.", "Your account may not do this."),
        ACCOUNT,
    ),
    "role_forbidden": (
        ("Vai trò không được phép", "Role forbidden"),
        (
            "Vai trò của tài khoản không được làm việc này; detail nêu các vai trò được phép.",
            "Your account's role may not do this; detail names the roles that may.",
        ),
        ACCOUNT,
    ),
    "unit_forbidden": (
        ("Không thuộc đơn vị", "Not your unit"),
        ("Bạn không làm việc tại đơn vị này.", "You do not work at this unit."),
        ACCOUNT,
    ),
    "not_supervisor": (
        ("Không phải người hướng dẫn", "Not the supervisor"),
        (
            "Chỉ người hướng dẫn (hoặc quản trị viên) mới xác nhận lượt tiếp nhận hay đánh giá "
            "người tập sự.",
            "Only the supervisor (or an administrator) confirms a probationer's receptions or "
            "evaluates the probation.",
        ),
        ACCOUNT,
    ),
    "not_handed_to_postal": (
        ("Chưa giao cho bưu điện", "Not handed to postal staff"),
        (
            "Tại đơn vị này, lĩnh vực hoặc thủ tục này chưa giao cho nhân viên bưu điện tiếp "
            "nhận; công chức tiếp nhận.",
            "At this unit the field or procedure is not handed to postal staff (yet); a civil "
            "servant receives it.",
        ),
        (
            "Chuyển cho công chức của đơn vị tiếp nhận.",
            "Hand it to a civil servant of the unit.",
        ),
    ),
    # -- staff, units and the catalog -----------------------------------------------------------
    "role_invalid": (
        ("Vai trò không hợp lệ", "Role invalid"),
        (
            "Vai trò là counter, agency, harvester, auditor hoặc admin.",
            "The role is counter, agency, harvester, auditor or admin.",
        ),
        FIX,
    ),
    "staff_exists": (
        ("Nhân viên đã có", "Staff exists"),
        ("Đã có nhân viên với mã này.", "A staff member with this id exists."),
        ("Chọn mã khác.", "Choose another id."),
    ),
    "staff_id_invalid": (
        ("Mã nhân viên không hợp lệ", "Staff id invalid"),
        (
            "Mã nhân viên bắt đầu bằng a-z hoặc 0-9 và chỉ gồm a-z, 0-9, '.', '_' hoặc '-'.",
            "A staff id starts with a-z or 0-9 and uses only a-z, 0-9, '.', '_' or '-'.",
        ),
        FIX,
    ),
    "invalid_clerk_id": (
        ("Mã nhân viên không dùng được cho chứng thư", "Clerk id unusable"),
        (
            "Mã này không dùng được làm tên chứng thư ký số (tên dành riêng như 'unit', hoặc ký tự "
            "không được phép).",
            "The id cannot name a signing certificate (a reserved name such as 'unit', or "
            "characters it may not hold).",
        ),
        (
            "Chọn mã khác gồm a-z, 0-9, '.', '_' hoặc '-'.",
            "Choose another id of a-z, 0-9, '.', '_' or '-'.",
        ),
    ),
    "staff_invalid": (
        ("Thông tin nhân viên không hợp lệ", "Staff details invalid"),
        (
            "Nơi công tác (employer) là civil_servant (công chức) hoặc postal (bưu điện).",
            "The employer is civil_servant or postal.",
        ),
        FIX,
    ),
    "staff_not_found": (
        ("Không có nhân viên", "No such staff member"),
        ("Không có nhân viên với mã này.", "No staff member has this id."),
        LOOKUP,
    ),
    "unit_required": (
        ("Cần nêu đơn vị", "Unit required"),
        (
            "Thao tác cần mã đơn vị (unit_code): tài khoản tiếp nhận hay cơ quan thuộc một đơn "
            "vị, báo cáo và tiếp nhận nêu đơn vị của mình.",
            "The action needs a unit code (unit_code): counter and agency accounts belong to a "
            "unit, reports and receptions name theirs.",
        ),
        FIX,
    ),
    "supervisor_required": (
        ("Cần người hướng dẫn", "Supervisor required"),
        (
            "Người tập sự cần một công chức cùng đơn vị hướng dẫn.",
            "A probationer needs a supervising civil servant of the same unit.",
        ),
        FIX,
    ),
    "probation_too_long": (
        ("Tập sự quá dài", "Probation too long"),
        ("Thời gian tập sự tối đa hai tháng.", "Probation lasts at most two months."),
        FIX,
    ),
    "not_on_probation": (
        ("Không trong thời gian tập sự", "Not on probation"),
        (
            "Nhân viên này không trong thời gian tập sự nên không có gì để đánh giá.",
            "This staff member is not on probation; there is nothing to evaluate.",
        ),
        NOTHING,
    ),
    "note_required": (
        ("Thiếu ghi chú", "Note required"),
        (
            "Thao tác cần một ghi chú bằng văn bản (nhận xét khi đánh giá tập sự, văn bản công "
            "bố khi sửa lịch làm việc).",
            "The action needs a written note (the evaluation of a probation, the announcement a "
            "calendar correction follows).",
        ),
        FIX,
    ),
    "backup_invalid": (
        ("Phân công trực thay không hợp lệ", "Backup invalid"),
        (
            "Người trực thay phải là nhân viên tiếp nhận (vai trò counter).",
            "A backup is a counter staff member.",
        ),
        FIX,
    ),
    "contact_invalid": (
        ("Đầu mối bưu điện không hợp lệ", "Postal contact invalid"),
        (
            "Đầu mối của bưu điện tại đơn vị cần ít nhất họ tên.",
            "The postal contact needs at least a name.",
        ),
        FIX,
    ),
    "unit_code_invalid": (
        ("Mã đơn vị không hợp lệ", "Unit code invalid"),
        (
            "Mã định danh điện tử của đơn vị có dạng 000.00.16.H08 (QĐ 20/2020).",
            "A unit's electronic code looks like 000.00.16.H08 (QĐ 20/2020).",
        ),
        FIX,
    ),
    "unit_invalid": (
        ("Thông tin đơn vị không hợp lệ", "Unit details invalid"),
        (
            "Loại đơn vị là one_stop (bộ phận một cửa) hoặc agency (cơ quan); địa bàn là urban, "
            "rural hoặc remote.",
            "The kind is one_stop or agency; the area urban, rural or remote.",
        ),
        FIX,
    ),
    "unit_exists": (
        ("Đơn vị đã có", "Unit exists"),
        ("Đã có đơn vị với mã này.", "A unit with this code exists."),
        (
            "Dùng mã khác, hoặc sửa đơn vị đã có.",
            "Use another code, or change the existing unit.",
        ),
    ),
    "unit_not_found": (
        ("Không có đơn vị", "No such unit"),
        ("Không có đơn vị với mã này.", "No unit has this code."),
        LOOKUP,
    ),
    "unit_closed": (
        ("Đơn vị đã sáp nhập", "Unit closed"),
        (
            "Đơn vị đã sáp nhập vào đơn vị khác và không tiếp nhận hồ sơ mới; hồ sơ cũ giữ "
            "nguyên mã.",
            "The unit was merged into another and takes no new dossiers; its dossiers keep "
            "their codes.",
        ),
        (
            "Tiếp nhận tại đơn vị kế thừa mà detail nêu.",
            "Receive at the successor unit the detail names.",
        ),
    ),
    "merge_invalid": (
        ("Không sáp nhập được", "Merge invalid"),
        (
            "Chỉ sáp nhập vào một đơn vị khác còn hoạt động, và một đơn vị chỉ đóng một lần.",
            "A unit merges into a different unit that is still open, and closes only once.",
        ),
        STATE,
    ),
    "norm_missing": (
        ("Thiếu định mức", "Staff norm missing"),
        (
            "Không có định mức hồ sơ trên một biên chế cho loại địa bàn của đơn vị.",
            "There is no staff norm for the unit's area type.",
        ),
        (
            "Quản trị viên sửa địa bàn của đơn vị (urban, rural hoặc remote).",
            "An administrator sets the unit's area (urban, rural or remote).",
        ),
    ),
    "series_exists": (
        ("Ký hiệu biên lai đã có", "Series exists"),
        (
            "Ký hiệu mẫu và ký hiệu biên lai này đã được đăng ký.",
            "This form symbol and series are registered already.",
        ),
        (
            "Dùng ký hiệu đã có, hoặc đăng ký ký hiệu khác.",
            "Use the registered series, or register another.",
        ),
    ),
    "catalog_invalid": (
        ("Danh mục không hợp lệ", "Catalog invalid"),
        (
            "Tệp danh mục không phải JSON/YAML hợp lệ, hoặc không đúng cấu trúc danh mục thủ tục; "
            "trường errors nêu từng chỗ sai.",
            "The catalog is not valid JSON or YAML, or does not match the catalog format; "
            "errors lists each place.",
        ),
        (
            "Sửa tệp tại các vị trí trong errors rồi nhập lại.",
            "Fix the file at the places errors lists and import it again.",
        ),
    ),
    "catalog_too_large": (
        ("Tệp danh mục quá lớn", "Catalog file too large"),
        (
            "Tệp danh mục vượt số byte tối đa (max_bytes).",
            "The catalog file is over the size limit (max_bytes).",
        ),
        (
            "Chia danh mục thành nhiều tệp (đơn vị trước, thủ tục sau) rồi nhập lần lượt.",
            "Split the catalog (units first, then procedures) and import the parts in turn.",
        ),
    ),
    "catalog_too_deep": (
        ("Danh mục lồng quá sâu", "Catalog nested too deeply"),
        (
            "Tệp lồng nhau sâu hơn giới hạn (max_depth); một danh mục thật chỉ cần vài cấp.",
            "The file nests deeper than the limit (max_depth); a real catalog needs a few levels.",
        ),
        (
            "Kiểm tra tệp được sinh ra thế nào, rồi nhập một tệp đúng cấu trúc danh mục.",
            "Check how the file was produced, and import one in the catalog format.",
        ),
    ),
    "catalog_too_many_nodes": (
        ("Danh mục có quá nhiều nút", "Catalog has too many nodes"),
        (
            "Khi mở rộng các tham chiếu YAML (alias), tệp có nhiều nút hơn giới hạn (max_nodes): "
            "dấu hiệu của một “quả bom” YAML.",
            "Expanded with its YAML aliases, the file holds more nodes than the limit "
            "(max_nodes): the mark of a YAML bomb.",
        ),
        (
            "Bỏ các alias lặp lại hoặc chia nhỏ tệp rồi nhập lại.",
            "Remove the repeated aliases or split the file, then import again.",
        ),
    ),
    "catalog_unknown_unit": (
        ("Thủ tục giao cho đơn vị chưa có", "Procedure routes to an unknown unit"),
        (
            "Một thủ tục nêu cơ quan có thẩm quyền mà mã đơn vị chưa được khai báo.",
            "A procedure names a competent agency whose unit code is not known.",
        ),
        (
            "Khai báo các đơn vị đó trước, hoặc trong cùng tệp (mục units), rồi nhập lại.",
            "Declare those units first, or in the same file (units), and import again.",
        ),
    ),
    "catalog_version_date": (
        ("Thiếu ngày hiệu lực mới", "New effective date missing"),
        (
            "Thủ tục đã thay đổi nhưng ngày hiệu lực không sau ngày của phiên bản hiện hành; "
            "chấp nhận sẽ viết lại quy định mà các hồ sơ đã tiếp nhận theo.",
            "A procedure changed but its effective_from is not after the current version's; "
            "accepting it would rewrite the rules dossiers were received under.",
        ),
        (
            "Ghi ngày hiệu lực mới (effective_from) cho thủ tục đã đổi rồi nhập lại.",
            "Give the changed procedure its new effective_from and import again.",
        ),
    ),
    "procedure_not_found": (
        ("Không có thủ tục", "No such procedure"),
        (
            "Không có thủ tục với mã này còn hiệu lực vào ngày đã hỏi.",
            "No procedure by this code is in force on the day asked.",
        ),
        (
            "Tìm thủ tục ở GET /api/v1/procedures, hoặc hỏi ngày khác (tham số at).",
            "Look it up in GET /api/v1/procedures, or ask about another day (at).",
        ),
    ),
    # -- dossiers -------------------------------------------------------------------------------
    "dossier_error": (
        ("Lỗi hồ sơ", "Dossier error"),
        (
            "Một quy tắc về hồ sơ từ chối yêu cầu, khi không có mã cụ thể hơn.",
            "A dossier rule refused the request and no more specific code applies.",
        ),
        FIX,
    ),
    "dossier_not_found": (
        ("Không có hồ sơ", "No such dossier"),
        (
            "Không có hồ sơ với mã hoặc id này trong phạm vi của bạn.",
            "No dossier by this code or id within your scope.",
        ),
        LOOKUP,
    ),
    "applicant_invalid": (
        ("Thông tin người nộp không hợp lệ", "Applicant details invalid"),
        (
            "Họ tên, loại giấy tờ tùy thân hoặc số giấy tờ của người nộp thiếu hoặc sai dạng "
            "(số CCCD có 12 chữ số).",
            "The applicant's name, ID type or ID number is missing or malformed (a CCCD number "
            "has 12 digits).",
        ),
        FIX,
    ),
    "channel_invalid": (
        ("Kênh tiếp nhận không hợp lệ", "Channel invalid"),
        (
            "Kênh là 1 (trực tiếp), 2 (trực tuyến) hoặc 3 (qua bưu chính).",
            "The channel is 1 (in person), 2 (online) or 3 (by post).",
        ),
        FIX,
    ),
    "collect_at_invalid": (
        ("Thời điểm thu phí không hợp lệ", "Fee collection point invalid"),
        (
            "collect_at là receipt (khi tiếp nhận), supplement (khi bổ sung) hoặc return (khi "
            "trả kết quả).",
            "collect_at is receipt, supplement or return.",
        ),
        FIX,
    ),
    "component_not_found": (
        ("Không có thành phần hồ sơ", "No such component"),
        ("Hồ sơ không có thành phần với mã này.", "The dossier has no component with this id."),
        (
            "Đọc các thành phần ở GET /api/v1/dossiers/{ref} rồi dùng đúng id.",
            "Read the components from GET /api/v1/dossiers/{ref} and use one of their ids.",
        ),
    ),
    "component_unknown": (
        ("Thành phần không thuộc thủ tục", "Unknown component"),
        (
            "Danh sách kiểm tra có khóa thành phần mà thủ tục không quy định.",
            "The check names component keys the procedure does not list.",
        ),
        (
            "Dùng các khóa (key) trong components của GET /api/v1/procedures/{code}.",
            "Use the keys of components in GET /api/v1/procedures/{code}.",
        ),
    ),
    "count_invalid": (
        ("Số bản không hợp lệ", "Count invalid"),
        ("Số bản của một thành phần là từ 0 đến 100.", "A component's count is 0 to 100."),
        FIX,
    ),
    "dossier_incomplete": (
        ("Hồ sơ chưa đủ thành phần", "Dossier incomplete"),
        (
            "Hồ sơ còn thiếu thành phần bắt buộc nên chưa tiếp nhận được.",
            "Required components are missing, so the dossier cannot be received.",
        ),
        (
            "Kiểm tra lại thành phần (POST .../components/check) khi đủ giấy tờ, hoặc hướng dẫn "
            "người nộp bổ sung.",
            "Check the components again (POST .../components/check) once every paper is there, "
            "or tell the applicant what to bring.",
        ),
    ),
    "illegal_transition": (
        ("Bước không hợp lệ ở trạng thái này", "Illegal transition"),
        (
            "Hồ sơ (hoặc phiếu xếp hàng, biên lai) đang ở trạng thái không cho phép bước này, "
            "ví dụ trả kết quả khi chưa xử lý xong.",
            "The dossier (or queue ticket, receipt) is in a state that does not allow this "
            "step, e.g. returning a result before processing ends.",
        ),
        STATE,
    ),
    "conflict": (
        ("Xung đột trạng thái", "Conflict"),
        (
            "Đối tượng không ở trạng thái cho phép thao tác này.",
            "The resource is not in a state that allows this.",
        ),
        STATE,
    ),
    "not_holder": (
        ("Không giữ hồ sơ", "Not the holder"),
        (
            "Một cơ quan khác trên quy trình liên thông đang giữ hồ sơ.",
            "Another agency of the route holds the dossier now.",
        ),
        STATE,
    ),
    "nothing_to_confirm": (
        ("Không có gì để xác nhận", "Nothing to confirm"),
        (
            "Không có lượt tiếp nhận nào của người tập sự đang chờ xác nhận.",
            "No reception by a probationer is waiting for confirmation.",
        ),
        NOTHING,
    ),
    "reason_required": (
        ("Thiếu lý do", "Reason required"),
        (
            "Thao tác cần nêu lý do (từ chối, dừng, rút hồ sơ, thư xin lỗi, hủy biên lai).",
            "The action needs a reason (a refusal, a stop, a withdrawal, an apology, a void).",
        ),
        FIX,
    ),
    "supplement_invalid": (
        ("Yêu cầu bổ sung không hợp lệ", "Supplement request invalid"),
        (
            "Yêu cầu bổ sung phải liệt kê giấy tờ cần bổ sung và nêu lý do.",
            "A supplement request lists the papers to supplement and says why.",
        ),
        FIX,
    ),
    "new_due_invalid": (
        ("Ngày hẹn mới không hợp lệ", "New appointment invalid"),
        (
            "Ngày hẹn trả mới phải sau ngày hẹn hiện tại.",
            "The new appointment must be after the current one.",
        ),
        FIX,
    ),
    "route_complete": (
        ("Đã tới cơ quan cuối", "Route complete"),
        (
            "Đây là cơ quan cuối của quy trình liên thông; không còn nơi để chuyển tiếp.",
            "This is the last agency of the route; there is no one to forward to.",
        ),
        ("Kết thúc xử lý hồ sơ (POST .../finish).", "Finish the dossier (POST .../finish)."),
    ),
    "route_not_complete": (
        ("Quy trình liên thông chưa xong", "Route not complete"),
        (
            "Hồ sơ còn phải chuyển tới cơ quan tiếp theo trước khi kết thúc.",
            "The route goes on to another agency before the dossier can finish.",
        ),
        ("Chuyển tiếp hồ sơ (POST .../forward).", "Forward the dossier (POST .../forward)."),
    ),
    "ticket_not_found": (
        ("Không có phiếu xếp hàng", "No such ticket"),
        ("Không có phiếu số thứ tự với mã này.", "No queue ticket has this id."),
        LOOKUP,
    ),
    "sequence_exhausted": (
        ("Hết số thứ tự", "Sequence exhausted"),
        (
            "Một dãy số đã dùng hết: mã hồ sơ trong ngày, số của một ký hiệu biên lai, hoặc số "
            "giấy tờ số hóa của một chủ sở hữu.",
            "A numbering sequence is full: the day's dossier codes, a receipt series, or an "
            "owner's record numbers.",
        ),
        (
            "Với biên lai: đăng ký ký hiệu mới; trường hợp khác: báo bộ phận vận hành.",
            "For receipts, register a new series; otherwise tell the operator.",
        ),
    ),
    # -- fees and receipts ----------------------------------------------------------------------
    "fee_not_due": (
        ("Khoản phí không phải nộp", "Fee not due"),
        (
            "Có khoản trong yêu cầu đã được nộp hoặc không thuộc hồ sơ.",
            "Some items of the request are paid already or not part of the dossier.",
        ),
        (
            "Xem các khoản còn phải nộp (GET .../fees) rồi chỉ thu những khoản đó.",
            "Read what is still due (GET .../fees) and take only those items.",
        ),
    ),
    "fees_unpaid": (
        ("Chưa nộp đủ phí", "Fees unpaid"),
        (
            "Hồ sơ còn phí, lệ phí chưa nộp nên chưa trả kết quả được.",
            "Fees are still due, so the result cannot be handed back yet.",
        ),
        (
            "Thu phí trước (POST .../payments), rồi trả kết quả.",
            "Take the fees first (POST .../payments), then return the result.",
        ),
    ),
    "nothing_due": (
        ("Không còn khoản phải nộp", "Nothing due"),
        ("Hồ sơ không còn khoản phí nào phải nộp.", "Nothing is due on this dossier."),
        NOTHING,
    ),
    "method_invalid": (
        ("Hình thức nộp không hợp lệ", "Payment method invalid"),
        (
            "Hình thức nộp là cash (tiền mặt) hoặc transfer (chuyển khoản).",
            "The method is cash or transfer.",
        ),
        FIX,
    ),
    "payment_items_invalid": (
        ("Khoản thu không hợp lệ", "Payment items invalid"),
        (
            "Mỗi khoản nộp phải nêu mã khoản và số tiền (VND) lớn hơn 0.",
            "Each item paid names its fee code and an amount in VND above zero.",
        ),
        FIX,
    ),
    "no_receipt_series": (
        ("Chưa có ký hiệu biên lai", "No receipt series"),
        (
            "Đơn vị chưa có ký hiệu biên lai dùng được vào ngày này nên không lập được biên lai.",
            "The unit has no receipt series in use that day, so no receipt can be issued.",
        ),
        (
            "Quản trị viên đăng ký ký hiệu (POST /api/v1/admin/receipt-series), rồi thu lại.",
            "An administrator registers a series (POST /api/v1/admin/receipt-series); then "
            "take the payment again.",
        ),
    ),
    "receipt_not_found": (
        ("Không có biên lai", "No such receipt"),
        ("Không có biên lai với mã này.", "No receipt has this id."),
        LOOKUP,
    ),
    "receipt_voided": (
        ("Biên lai đã hủy", "Receipt voided"),
        ("Biên lai đã bị hủy trước đó.", "The receipt is voided already."),
        NOTHING,
    ),
    "invalid_receipt_data": (
        ("Dữ liệu biên lai không hợp lệ", "Invalid receipt data"),
        (
            "Dữ liệu biên lai không được phép phát hành hay in (thiếu người nộp, số tiền sai…).",
            "Receipt data that must not be issued or printed (a missing payer, a wrong amount …).",
        ),
        FIX,
    ),
    # -- forms ----------------------------------------------------------------------------------
    "form_render_failed": (
        ("Không tạo được biểu mẫu", "Form could not be rendered"),
        (
            "Máy chủ không tạo được tệp PDF của biểu mẫu.",
            "The server could not produce the form's PDF.",
        ),
        OPERATOR,
    ),
    "form_unknown": (
        ("Không có mẫu này", "Unknown form"),
        (
            "Số mẫu không thuộc các mẫu hệ thống phát hành (01, 02, 03, 04, 06).",
            "The form number is not one the service issues (01, 02, 03, 04, 06).",
        ),
        FIX,
    ),
    "form_not_found": (
        ("Không có biểu mẫu", "No such form"),
        (
            "Hồ sơ không có biểu mẫu đã phát hành với mã này.",
            "The dossier has no issued form with this id.",
        ),
        (
            "Đọc danh sách biểu mẫu ở GET .../forms.",
            "Read the dossier's forms from GET .../forms.",
        ),
    ),
    "forms_disabled": (
        ("Chức năng ký biểu mẫu đang tắt", "Forms disabled"),
        (
            "Máy chủ đang tắt việc ký biểu mẫu (SOHOA_SIGN_FORMS) nên không phát hành biểu mẫu.",
            "Form signing is switched off on this server (SOHOA_SIGN_FORMS), so no form is issued.",
        ),
        (
            "Nếu cần biểu mẫu, đề nghị bộ phận vận hành bật lại.",
            "If forms are needed, ask the operator to switch it on.",
        ),
    ),
    "invalid_form_data": (
        ("Dữ liệu biểu mẫu không hợp lệ", "Invalid form data"),
        (
            "Thiếu hoặc sai dữ liệu cần để in biểu mẫu (lý do, số tiền âm, thời điểm không có "
            "múi giờ…).",
            "Data a form needs is missing or wrong (a reason, a negative amount, a time without "
            "a zone …).",
        ),
        FIX,
    ),
    "items_required": (
        ("Thiếu danh mục", "Items required"),
        (
            "Biểu mẫu cần ít nhất một mục (giấy tờ cần bổ sung, kết quả được bàn giao).",
            "The form needs at least one item (a paper to supplement, a result handed over).",
        ),
        FIX,
    ),
    "font_missing": (
        ("Thiếu phông chữ", "Font missing"),
        (
            "Máy chủ thiếu phông chữ tiếng Việt dùng để in biểu mẫu, biên nhận, báo cáo và dấu ký.",
            "The server lacks the Vietnamese font forms, receipts, reports and the stamp are "
            "printed with.",
        ),
        (
            "Đề nghị bộ phận vận hành cài phông chữ (fonts-noto-core).",
            "Ask the operator to install the font (fonts-noto-core).",
        ),
    ),
    # -- results, returns and the repository ----------------------------------------------------
    "result_invalid": (
        ("Kết quả không hợp lệ", "Result invalid"),
        ("Kết quả cần mã loại và tên.", "A result needs its type code and name."),
        FIX,
    ),
    "recipient_required": (
        ("Thiếu người nhận", "Recipient required"),
        (
            "Trả kết quả tại quầy cần họ tên, số giấy tờ tùy thân và quan hệ với người nộp của "
            "người nhận.",
            "A return at the counter needs the recipient's name, ID number and relation to the "
            "applicant.",
        ),
        FIX,
    ),
    "postal_invalid": (
        ("Thông tin bưu chính không hợp lệ", "Postal details invalid"),
        (
            "Trả qua bưu chính cần mã vận đơn và cước phí (VND, từ 0 trở lên).",
            "A postal return needs the tracking number and the postal fee (VND, 0 or more).",
        ),
        FIX,
    ),
    "return_not_found": (
        ("Không có lượt trả qua bưu chính", "No such postal return"),
        ("Không có lượt trả qua bưu chính với mã này.", "No postal return has this id."),
        LOOKUP,
    ),
    "link_invalid": (
        ("Thời hạn đường dẫn không hợp lệ", "Link lifetime invalid"),
        (
            "Đường dẫn trả kết quả điện tử có hiệu lực từ 1 giờ đến 30 ngày.",
            "A result link lives from 1 hour to 30 days.",
        ),
        FIX,
    ),
    "link_not_found": (
        ("Không có đường dẫn", "No such link"),
        ("Đường dẫn nhận kết quả này không tồn tại.", "This result link does not exist."),
        (
            "Kiểm tra đường dẫn đã nhận (sao chép đầy đủ).",
            "Check the link you received, copied whole.",
        ),
    ),
    "link_expired": (
        ("Đường dẫn đã hết hạn", "Link expired"),
        (
            "Đường dẫn nhận kết quả điện tử đã hết hạn hoặc đã bị thu hồi.",
            "The link to an electronic result has expired or was revoked.",
        ),
        (
            "Liên hệ bộ phận một cửa để được gửi đường dẫn mới.",
            "Ask the one-stop counter to send a new link.",
        ),
    ),
    "no_result_document": (
        ("Chưa có kết quả số hóa", "No result document"),
        (
            "Kết quả chưa được số hóa và ký nên chưa gửi điện tử được.",
            "The result is not digitized and signed yet, so it cannot be sent electronically.",
        ),
        (
            "Chờ bản quét kết quả xử lý xong rồi gửi lại.",
            "Wait until the result's scan is digitized, then send it.",
        ),
    ),
    "document_not_found": (
        ("Không có tài liệu", "No such document"),
        (
            "Không có tài liệu (bản số hóa đã ký, hoặc kết quả) với mã này mà bạn được xem.",
            "No document (a signed scan, or a result) by this id that you may see.",
        ),
        LOOKUP,
    ),
    "already_reused": (
        ("Thành phần đã dùng lại giấy tờ", "Component already reuses a record"),
        (
            "Thành phần hồ sơ này đã được gắn với một giấy tờ có sẵn trong kho dữ liệu.",
            "This component already reuses a record of the data repository.",
        ),
        NOTHING,
    ),
    "record_not_reusable": (
        ("Không có giấy tờ để dùng lại", "No reusable record"),
        (
            "Kho dữ liệu không có giấy tờ còn hiệu lực của chủ sở hữu và loại giấy tờ này.",
            "The data repository holds no valid record of this owner and paper type.",
        ),
        (
            "Số hóa bản giấy: tải bản quét lên thành phần.",
            "Digitize the paper: upload a scan to the component.",
        ),
    ),
    "reuse_invalid": (
        ("Dùng lại không hợp lệ", "Reuse invalid"),
        ("Mã kết quả thay thế bị bỏ trống.", "The replacing result code is empty."),
        FIX,
    ),
    # -- uploads --------------------------------------------------------------------------------
    "ingest_failed": (
        ("Không nhận được tệp", "Upload not accepted"),
        (
            "Tệp tải lên bị từ chối, khi không có mã cụ thể hơn.",
            "The upload was refused and no more specific code applies.",
        ),
        RESCAN,
    ),
    "scan_not_found": (
        ("Không có bản quét", "No such scan"),
        ("Không có bản quét với mã này mà bạn được xem.", "No scan by this id that you may see."),
        LOOKUP,
    ),
    "scan_refused": (
        ("Tệp đã bị từ chối", "Upload refused"),
        (
            "Tệp với mã này đã bị từ chối khi tải lên và không được xử lý; thân lỗi nêu lý do.",
            "The upload with this id was refused on arrival and never processed; the body gives "
            "the reason.",
        ),
        RESCAN,
    ),
    "attempts_exhausted": (
        ("Hết số lần thử", "Attempts exhausted"),
        (
            "Bản quét lỗi ở mọi lần xử lý nên hệ thống đã dừng thử.",
            "The scan failed each time it was processed, and the pipeline gave up on it.",
        ),
        (
            "Đọc lý do lỗi của bản quét; khi nguyên nhân đã được khắc phục, thử lại (POST "
            "/api/v1/scans/{id}/retry).",
            "Read the scan's failure reason; once its cause is fixed, retry it (POST "
            "/api/v1/scans/{id}/retry).",
        ),
    ),
    "empty_file": (
        ("Tệp rỗng", "Empty file"),
        ("Tệp tải lên không có byte nào.", "The uploaded file has no bytes."),
        ("Chọn đúng tệp rồi tải lên lại.", "Pick the right file and upload it again."),
    ),
    "file_too_large": (
        ("Tệp quá lớn", "File too large"),
        ("Tệp tải lên vượt dung lượng tối đa.", "The upload is over the size limit."),
        SMALLER,
    ),
    "upload_too_large": (
        ("Yêu cầu tải lên quá lớn", "Upload too large"),
        (
            "Toàn bộ thân yêu cầu tải lên vượt giới hạn.",
            "The whole upload body is over its limit.",
        ),
        SMALLER,
    ),
    "unsupported_media_type": (
        ("Định dạng không hỗ trợ", "Unsupported media type"),
        (
            "Kiểu tệp hoặc Content-Type không được hỗ trợ (bản quét là PDF, JPEG, PNG hoặc TIFF).",
            "The file type or Content-Type is not supported (scans are PDF, JPEG, PNG or TIFF).",
        ),
        FIX,
    ),
    "bad_form": (
        ("Không đọc được biểu mẫu tải lên", "Unreadable upload form"),
        (
            "Thân multipart/form-data sai định dạng hoặc thiếu trường file.",
            "The multipart/form-data body is malformed or lacks its file field.",
        ),
        (
            "Gửi lại dạng multipart/form-data với đúng một tệp trong trường file.",
            "Send it again as multipart/form-data with one file in the file field.",
        ),
    ),
    "too_many_files": (
        ("Quá nhiều tệp", "Too many files"),
        ("Yêu cầu tải lên có hơn một tệp.", "The upload holds more than one file."),
        ("Gửi mỗi tệp trong một yêu cầu.", "Send one file per request."),
    ),
    "form_too_large": (
        ("Phần ngoài tệp quá lớn", "Upload form too large"),
        (
            "Một phần ngoài tệp trong yêu cầu tải lên vượt giới hạn.",
            "Something in the upload body besides the file is over its limit.",
        ),
        FIX,
    ),
    "form_fields_too_large": (
        ("Các trường quá lớn", "Form fields too large"),
        (
            "Các trường ngoài tệp trong yêu cầu tải lên vượt dung lượng cho phép.",
            "The fields besides the file are over their size limit.",
        ),
        FIX,
    ),
    "too_many_form_fields": (
        ("Quá nhiều trường", "Too many form fields"),
        (
            "Yêu cầu tải lên có nhiều trường hơn giới hạn.",
            "The upload holds more fields than allowed.",
        ),
        FIX,
    ),
    "part_headers_too_large": (
        ("Tiêu đề phần quá lớn", "Part headers too large"),
        (
            "Tiêu đề của một phần multipart vượt giới hạn.",
            "The headers of a multipart part are over their limit.",
        ),
        FIX,
    ),
    "invalid_field": (
        ("Trường không hợp lệ", "Invalid field"),
        (
            "Một trường của yêu cầu tải lên (ngôn ngữ OCR, mật khẩu, mã nhân viên…) không hợp lệ.",
            "A field of the upload (the OCR language, the password, the clerk id …) is not valid.",
        ),
        FIX,
    ),
    "file_corrupt": (
        ("Tệp bị hỏng", "Corrupt file"),
        (
            "Tệp có vẻ thuộc định dạng được hỗ trợ nhưng không đọc được (bị cắt, hỏng hoặc cố ý "
            "làm sai).",
            "The file claims a supported type but cannot be read as one (truncated, damaged or "
            "hostile).",
        ),
        RESCAN,
    ),
    "pdf_encrypted": (
        ("PDF có mật khẩu", "Encrypted PDF"),
        ("PDF được mã hóa bằng mật khẩu mở tệp.", "The PDF is encrypted with a password."),
        (
            "Gửi kèm mật khẩu (trường password), hoặc gửi bản không mã hóa.",
            "Send its password (the password field), or an unencrypted copy.",
        ),
    ),
    "pdf_wrong_password": (
        ("Sai mật khẩu PDF", "Wrong PDF password"),
        ("Mật khẩu gửi kèm không mở được PDF.", "The password sent does not open the PDF."),
        ("Gửi lại với đúng mật khẩu.", "Send it again with the right password."),
    ),
    "xfa_form": (
        ("Biểu mẫu XFA động", "Dynamic XFA form"),
        (
            "PDF là biểu mẫu XFA động: không có trang nào cho tới khi phần mềm LiveCycle dựng "
            "ra, nên không có gì để số hóa.",
            "The PDF is a dynamic XFA form: it has no pages until a LiveCycle viewer draws "
            "them, so there is nothing to digitize.",
        ),
        (
            "In biểu mẫu ra giấy rồi quét, hoặc xuất sang PDF thường.",
            "Print it and scan the paper, or export it to a plain PDF.",
        ),
    ),
    "too_many_pages": (
        ("Quá nhiều trang", "Too many pages"),
        ("Tệp có nhiều trang hơn giới hạn.", "The file has more pages than allowed."),
        SMALLER,
    ),
    "image_too_large": (
        ("Ảnh quá nhiều điểm ảnh", "Image too large"),
        (
            "Ảnh có quá nhiều điểm ảnh: vượt xa một bản quét ở quầy, hoặc là một “quả bom "
            "giải nén”.",
            "The image has too many pixels: far beyond a counter's scan, or a decompression bomb.",
        ),
        SMALLER,
    ),
    "pdf_over_budget": (
        ("PDF vượt ngân sách xử lý", "PDF over budget"),
        (
            "Dựng hình hoặc giải nén PDF này sẽ tốn hơn mọi giấy tờ ở quầy cần.",
            "Rendering or inflating this PDF would cost more than any counter paper needs.",
        ),
        SMALLER,
    ),
    "page_too_large": (
        ("Trang quá khổ", "Page too large"),
        (
            "Một trang PDF lớn hơn nhiều so với khổ giấy của hồ sơ.",
            "A PDF page is far larger than a dossier's paper.",
        ),
        SMALLER,
    ),
    "page_pixels_too_many": (
        ("Trang quá nhiều điểm ảnh", "Page has too many pixels"),
        (
            "Một trang PDF khi dựng hình sẽ vượt số điểm ảnh cho phép.",
            "A PDF page would render to more pixels than allowed.",
        ),
        SMALLER,
    ),
    "document_pixels_too_many": (
        ("Tài liệu quá nhiều điểm ảnh", "Document has too many pixels"),
        (
            "Tổng số điểm ảnh của các trang vượt mức một bộ giấy tờ cần.",
            "The pages together hold more pixels than a set of papers needs.",
        ),
        SMALLER,
    ),
    "pdf_image_too_large": (
        ("Ảnh trong PDF quá lớn", "Image in the PDF too large"),
        (
            "Một ảnh trong PDF có quá nhiều điểm ảnh.",
            "An image inside the PDF has too many pixels.",
        ),
        SMALLER,
    ),
    "pdf_stream_too_large": (
        ("Luồng PDF quá lớn", "PDF stream too large"),
        (
            "Một luồng dữ liệu trong PDF khi giải nén vượt giới hạn.",
            "A stream in the PDF inflates beyond its limit.",
        ),
        SMALLER,
    ),
    "pdf_inflated_too_large": (
        ("PDF giải nén quá lớn", "PDF inflates too far"),
        (
            "Các luồng dữ liệu trong PDF khi giải nén vượt tổng dung lượng cho phép.",
            "The PDF's streams together inflate beyond the allowed size.",
        ),
        SMALLER,
    ),
    "pdf_inflation_ratio": (
        ("Tỷ lệ nén bất thường", "Suspicious compression ratio"),
        (
            "Một luồng nhỏ giải nén ra lớn gấp nhiều lần mức văn bản hay hình vẽ thật có thể "
            "nén: dấu hiệu của “quả bom giải nén”.",
            "A small stream inflates far beyond what text or drawings compress to: a "
            "decompression bomb.",
        ),
        RESCAN,
    ),
    # -- the pipeline: OCR, PDF/A, signing ------------------------------------------------------
    "ocr_failed": (
        ("Lỗi OCR", "OCR failed"),
        (
            "Nhận dạng chữ thất bại, khi không có mã cụ thể hơn.",
            "Text recognition failed and no more specific code applies.",
        ),
        RETRY_SCAN,
    ),
    "ocr_engine_failed": (
        ("Công cụ OCR lỗi", "OCR engine failed"),
        (
            "OCRmyPDF hoặc Tesseract bị lỗi khi nhận dạng chữ.",
            "OCRmyPDF or Tesseract failed while recognising the text.",
        ),
        RETRY_SCAN,
    ),
    "ocr_input_invalid": (
        ("Tệp không nhận dạng được", "Input cannot be OCRed"),
        (
            "Không thể nhận dạng chữ trên tệp như đã gửi (mã hóa, hỏng, đã ký, hoặc “quả bom "
            "giải nén”).",
            "The file cannot be OCRed as sent (encrypted, damaged, signed, or a decompression "
            "bomb).",
        ),
        RESCAN,
    ),
    "ocr_timeout": (
        ("OCR quá thời gian", "OCR timeout"),
        (
            "Tesseract hoặc một công cụ phụ chạy quá thời gian cho phép; có thể máy chỉ đang bận.",
            "Tesseract or a helper ran out of time; the machine may just have been busy.",
        ),
        (
            "Hệ thống tự thử lại; nếu bản quét vẫn lỗi, thử lại sau (POST /api/v1/scans/{id}/retry).",
            "The pipeline retries it; if the scan still fails, retry it later (POST "
            "/api/v1/scans/{id}/retry).",
        ),
    ),
    "ocr_memory_limit": (
        ("OCR vượt giới hạn bộ nhớ", "OCR memory limit"),
        (
            "Một trang cần nhiều bộ nhớ hơn mức tiến trình OCR được dùng.",
            "A page needs more memory than the OCR process may use.",
        ),
        SMALLER,
    ),
    "ocr_dependency_missing": (
        ("Thiếu thành phần OCR", "OCR dependency missing"),
        (
            "Máy xử lý thiếu Tesseract, gói ngôn ngữ hoặc chương trình mà OCR cần.",
            "The worker lacks Tesseract, a language model or another program OCR needs.",
        ),
        OPERATOR,
    ),
    "pdfa_invalid": (
        ("Không đạt PDF/A", "Not PDF/A"),
        (
            "Tệp tạo ra không đạt PDF/A-2b nên không được đưa vào lưu trữ.",
            "The output does not meet PDF/A-2b, so it is not archived.",
        ),
        RETRY_SCAN,
    ),
    "signing_failed": (
        ("Ký số thất bại", "Signing failed"),
        ("Không tạo được chữ ký số.", "A signature could not be made."),
        OPERATOR,
    ),
    "signer_not_configured": (
        ("Chưa cấu hình chữ ký số", "Signer not configured"),
        (
            "Không có khóa ký dùng được cho yêu cầu (nhân viên chưa có chứng thư, thiếu tệp khóa, "
            "sai mật khẩu hoặc PIN).",
            "No usable signing key for the request (a clerk without a certificate, a missing key "
            "file, a wrong password or PIN).",
        ),
        OPERATOR,
    ),
    "stamp_font_missing": (
        ("Thiếu phông chữ cho dấu ký", "Stamp font missing"),
        (
            "Máy chủ thiếu phông chữ cho dấu chữ ký hiển thị (cần dấu tiếng Việt và đạt PDF/A).",
            "The server lacks the font of the visible signature stamp (Vietnamese glyphs, PDF/A "
            "safe).",
        ),
        OPERATOR,
    ),
    "signing_key_unavailable": (
        ("Khóa ký tạm thời không truy cập được", "Signing key unavailable"),
        (
            "Khóa ký có nhưng tạm thời không truy cập được (mất phiên HSM, token bị rút).",
            "The key exists but cannot be reached right now (HSM session lost, token removed).",
        ),
        RETRY,
    ),
    "timestamp_unavailable": (
        ("Không lấy được dấu thời gian", "Timestamp unavailable"),
        (
            "Máy chủ cấp dấu thời gian (RFC 3161) không trả lời, hoặc trả lời sai.",
            "The timestamp authority (RFC 3161) did not answer, or answered badly.",
        ),
        RETRY,
    ),
    "unsignable_pdf": (
        ("PDF không ký được", "PDF cannot be signed"),
        (
            "Tệp không phải PDF có thể ký bổ sung (hỏng, mã hóa hoặc bị khóa).",
            "The file is not a PDF that can take an incremental signature (corrupt, encrypted "
            "or locked).",
        ),
        RESCAN,
    ),
    "signed_input_locked": (
        ("PDF đã ký bị khóa", "Signed PDF locked"),
        (
            "Tệp được chứng nhận (DocMDP) hoặc khóa mọi thay đổi, nên không thêm được chữ ký.",
            "The file is certified (DocMDP) or locked against any change, so no signature can "
            "be added.",
        ),
        (
            "Xin bản không khóa từ nơi phát hành, hoặc quét bản giấy.",
            "Obtain an unlocked copy from its issuer, or scan the paper.",
        ),
    ),
    "work_dir_full": (
        ("Hết chỗ trên đĩa tạm", "Work disk full"),
        (
            "Ổ đĩa làm việc của máy xử lý đã đầy; không phải lỗi của tệp.",
            "The worker's scratch disk is full; not the file's fault.",
        ),
        (
            "Hệ thống tự thử lại; nếu kéo dài, báo bộ phận vận hành.",
            "The pipeline retries it; if it lasts, tell the operator.",
        ),
    ),
    # -- storage and the database ---------------------------------------------------------------
    "database_unavailable": (
        ("Cơ sở dữ liệu tạm thời không truy cập được", "Database unavailable"),
        (
            "Máy chủ không kết nối được cơ sở dữ liệu; yêu cầu chưa được thực hiện.",
            "The server cannot reach its database; nothing was done.",
        ),
        RETRY,
    ),
    "store_unavailable": (
        ("Kho lưu trữ tạm thời không truy cập được", "Store unavailable"),
        (
            "Kho lưu trữ tệp không trả lời hoặc trả lỗi máy chủ.",
            "The object store cannot be reached or answered with a server error.",
        ),
        RETRY,
    ),
    "storage_error": (
        ("Lỗi kho lưu trữ", "Storage error"),
        ("Kho lưu trữ tệp trả lỗi.", "The object store failed."),
        OPERATOR,
    ),
    "object_not_found": (
        ("Không có tệp trong kho", "Object not found"),
        (
            "Kho lưu trữ không có tệp với khóa này.",
            "The object store holds nothing under this key.",
        ),
        (
            "Nếu hồ sơ vẫn trỏ tới tệp này, đề nghị bộ phận vận hành kiểm tra toàn vẹn (sohoa "
            "fixity).",
            "If a record still points at it, ask the operator to run a fixity check (sohoa "
            "fixity).",
        ),
    ),
    "object_locked": (
        ("Tệp đang bị khóa lưu trữ", "Object locked"),
        (
            "Thời hạn lưu giữ hoặc lệnh giữ pháp lý (WORM) không cho sửa hay xóa tệp.",
            "Retention or a legal hold (WORM) forbids changing or deleting the object.",
        ),
        (
            "Không sửa được trước khi hết hạn lưu giữ; liên hệ bộ phận vận hành nếu có căn cứ "
            "pháp lý.",
            "It cannot change before its retention ends; ask the operator if there is a legal "
            "ground.",
        ),
    ),
    "retention_not_supported": (
        ("Kho không hỗ trợ khóa lưu trữ", "Retention not supported"),
        (
            "Kho (hoặc bucket) không bật object lock nên không đặt được thời hạn lưu giữ.",
            "The store (or bucket) has no object lock, so retention cannot be set.",
        ),
        OPERATOR,
    ),
    "checksum_mismatch": (
        ("Sai mã băm", "Checksum mismatch"),
        (
            "Dữ liệu nhận được hoặc đã lưu không khớp mã SHA-256 đã công bố: tệp hỏng khi "
            "truyền hoặc trong kho.",
            "The bytes do not hash to the SHA-256 announced or recorded: damaged in transit or "
            "in the store.",
        ),
        (
            "Gửi lại tệp; nếu tệp đã lưu bị sai, đề nghị bộ phận vận hành kiểm tra toàn vẹn "
            "(sohoa fixity).",
            "Send the file again; if a stored file is wrong, ask the operator to run a fixity "
            "check (sohoa fixity).",
        ),
    ),
    "invalid_object_key": (
        ("Khóa lưu trữ không hợp lệ", "Invalid object key"),
        (
            "Khóa không phải khóa do hệ thống tạo; bị từ chối trước khi chạm tới kho.",
            "The key is not one the service builds; refused before touching the store.",
        ),
        (
            "Dùng các đường dẫn tải mà API trả về, không tự ghép khóa.",
            "Use the download URLs the API gives; do not build keys.",
        ),
    ),
    "invalid_metadata": (
        ("Siêu dữ liệu không hợp lệ", "Invalid metadata"),
        (
            "Siêu dữ liệu hoặc kiểu nội dung không truyền được qua tiêu đề HTTP tới kho lưu trữ.",
            "Metadata or a content type that cannot travel as HTTP headers to the store.",
        ),
        FIX,
    ),
    "configuration_invalid": (
        ("Cấu hình không dùng được", "Configuration invalid"),
        (
            "Cấu hình máy chủ không cho dịch vụ chạy (ví dụ cài đặt thật dùng PKI thử nghiệm).",
            "The server's settings cannot run the service (e.g. a production install on the "
            "development PKI).",
        ),
        (
            "Bộ phận vận hành sửa cấu hình (các biến SOHOA_…) rồi khởi động lại.",
            "The operator corrects the settings (the SOHOA_… variables) and restarts.",
        ),
    ),
}


def _entry(code: str, title: Pair, meaning: Pair, action: Pair) -> ProblemType:
    return ProblemType(
        code=code,
        type=f"/problems/{code}",
        title=Bilingual(vi=title[0], en=title[1]),
        meaning=Bilingual(vi=meaning[0], en=meaning[1]),
        action=Bilingual(vi=action[0], en=action[1]),
    )


PROBLEM_TYPES: dict[str, ProblemType] = {
    code: _entry(code, *parts) for code, parts in sorted(_ENTRIES.items())
}
