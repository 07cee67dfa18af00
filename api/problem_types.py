"""What each problem ``code`` means and what the caller should do, in Vietnamese and English.

The texts are written here in English, marked with ``N_``; their Vietnamese is in the one
message catalog (``core/locale``), which the web page shares. A problem's ``type`` is ``/problems/<code>``; ``GET /problems/{code}`` serves the entry from
here. The codes are those of the package errors (``core.errors.SohoaError`` and its
subclasses, with the codes passed where they are raised) and those the API answers itself
(``ApiProblem`` and the handlers in :mod:`api.problems`); ``tests/api/test_problem_types.py``
finds them in the code base and fails on one without an entry here, or an entry for a code
nothing raises any more.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from core.i18n import N_, gettext_for


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


# What the caller does, where many codes call for the same.
FIX: str = N_("Correct what the detail names and send the request again.")
RETRY: str = N_(
    "Try again in a few minutes; if a Retry-After header is present, wait that many seconds."
)
OPERATOR: str = N_(
    "Tell the operator, quoting the request id (X-Request-ID); sending the same request again "
    "will not help."
)
LOOKUP: str = N_(
    "Check the identifier in the path or parameters. An object outside your units' scope is "
    "answered as if it did not exist."
)
STATE: str = N_("Read the current state again (GET) and take a step it allows.")
ACCOUNT: str = N_(
    "Use an account with the right role and unit, or ask an administrator for the right."
)
RESCAN: str = N_(
    "Scan the paper again, or export the file again from its source, and upload the new file."
)
SMALLER: str = N_(
    "Split the file, or scan at a lower resolution (300 dpi is enough for papers), and upload "
    "again."
)
RETRY_SCAN: str = N_(
    "Retry the scan (POST /api/v1/scans/{id}/retry); if it fails again, tell the operator."
)
TIME_ZONE: str = N_("Send the time in ISO 8601 with its offset, e.g. 2026-11-27T09:00:00+07:00.")
NOTHING: str = N_("Nothing more needs doing.")

# code: (title, meaning, action), in English; the catalog gives each its Vietnamese.
_ENTRIES: dict[str, tuple[str, str, str]] = {
    # -- the request itself -----------------------------------------------------------------
    "invalid_request": (
        N_("Invalid request"),
        N_(
            "Parameters, path or JSON body do not match the operation's schema; errors gives "
            "each place (loc) and reason (msg)."
        ),
        N_("Correct each entry of errors, checking the schema at /docs, and send again."),
    ),
    "invalid_character": (
        N_("NUL character"),
        N_("The path or a query parameter holds a NUL character, which the database cannot store."),
        N_("Remove that character and send again."),
    ),
    "repeated_parameter": (
        N_("Repeated parameter"),
        N_("A query parameter was given more than once; using either value would be a guess."),
        N_("Send each parameter once."),
    ),
    "invalid_value": (
        N_("Value cannot be stored"),
        N_(
            "The database refused a value of the request (a NUL character, a number out of "
            "range …)."
        ),
        FIX,
    ),
    "request_too_large": (
        N_("Request too large"),
        N_(
            "The body is larger than the operation needs (an OAI-PMH request is a few short "
            "arguments)."
        ),
        FIX,
    ),
    "format_invalid": (
        N_("Format invalid"),
        N_("The format parameter is json, pdf or xml (xml only for a document's report)."),
        FIX,
    ),
    "limit_invalid": (
        N_("Limit invalid"),
        N_("limit is outside its allowed range."),
        FIX,
    ),
    "batch_invalid": (
        N_("Batch size invalid"),
        N_("The audit chain check was asked for with a batch size below 1."),
        FIX,
    ),
    "range_invalid": (
        N_("Range invalid"),
        N_("The range ends before it starts."),
        FIX,
    ),
    "dates_invalid": (
        N_("Dates invalid"),
        N_("The end date is before the start date."),
        FIX,
    ),
    "day_mismatch": (
        N_("Day mismatch"),
        N_("The day in the body differs from the day in the path."),
        N_("Send the same day in the path and in the body."),
    ),
    "datetime_naive": (
        N_("Time zone missing"),
        N_("A date-time was sent without a time zone, so it names no instant."),
        TIME_ZONE,
    ),
    "time_invalid": (
        N_("Time zone missing"),
        N_("since and until need a time zone."),
        TIME_ZONE,
    ),
    "working_days_invalid": (
        N_("Working days invalid"),
        N_("working_days must be 0 or more."),
        FIX,
    ),
    "search_query_invalid": (
        N_("Search query invalid"),
        N_("The query has nothing to search for (empty or blank)."),
        FIX,
    ),
    "invalid_input": (
        N_("Invalid input"),
        N_("The request breaks a rule of the service and no more specific code applies."),
        FIX,
    ),
    # -- HTTP and the API layer -----------------------------------------------------------------
    "not_found": (
        N_("Not found"),
        N_("Nothing is at this address, or the object is outside your scope."),
        LOOKUP,
    ),
    "method_not_allowed": (
        N_("Method not allowed"),
        N_(
            "This address does not take the HTTP method used; the Allow header lists those it "
            "takes."
        ),
        N_("Use a method the Allow header lists."),
    ),
    "http_error": (
        N_("HTTP error"),
        N_("The HTTP layer refused the request before it reached the service."),
        FIX,
    ),
    "internal_error": (
        N_("Internal error"),
        N_("An unexpected error; it has been logged."),
        OPERATOR,
    ),
    "error": (
        N_("Error"),
        N_("A failure with no more specific code."),
        OPERATOR,
    ),
    # -- the web page's session -------------------------------------------------------------
    "session_missing": (
        N_("Not signed in"),
        N_("This page needs a staff session; the browser sent none."),
        N_("Sign in at /web/login with the staff token your administrator gave you."),
    ),
    "session_expired": (
        N_("The session has ended"),
        N_(
            "The session expired after the computer was left idle, was signed out, or your "
            "token was revoked."
        ),
        N_("Sign in again; if the token is refused, ask your administrator for a new one."),
    ),
    "csrf_failed": (
        N_("The form is stale or not genuine"),
        N_(
            "The form came without the current session's anti-forgery (CSRF) token: the page "
            "was opened in an earlier session, or the request came from another site."
        ),
        N_("Reload the page and do it again; nothing has been changed."),
    ),
    "rate_limited": (
        N_("Too many requests"),
        N_("Your client sent too many requests (or too many wrong tokens) in the window."),
        N_("Wait the seconds of the Retry-After header (retry_after) and send again."),
    ),
    "url_invalid": (
        N_("Link invalid"),
        N_("The download link's signature is wrong, or the link has expired."),
        N_("Ask the API for a new link."),
    ),
    "problem_type_not_found": (
        N_("No such problem type"),
        N_("The code in the path is not one this service explains."),
        N_("Follow the type URI of the problem you received, as given."),
    ),
    # -- who may do what ------------------------------------------------------------------------
    "unauthorized": (
        N_("Unauthorized"),
        N_("No bearer token, or an unknown, revoked or expired one."),
        N_(
            "Send Authorization: Bearer <token> with a valid token; ask an administrator for a "
            "new one if needed."
        ),
    ),
    "forbidden": (
        N_("Forbidden"),
        N_("Your account may not do this."),
        ACCOUNT,
    ),
    "connect_failed": (
        N_("Outside system unavailable"),
        N_("A system sohoa talks to (the portal, a mail or SMS provider, a webhook) failed."),
        N_("Wait and try again; the outbox keeps trying what it has to send."),
    ),
    "delivery_failed": (
        N_("Delivery failed"),
        N_("An event could not be delivered to its receiver; the outbox tries again later."),
        N_("Nothing to do now; an administrator replays dead letters once the cause is fixed."),
    ),
    "replay_invalid": (
        N_("Replay not possible"),
        N_("The replay names no events, or a subscriber this installation does not have."),
        N_("Name event ids or a time range, and a subscriber listed by GET /api/v1/admin/outbox."),
    ),
    # -- integrators' webhooks ---------------------------------------------------------------
    "webhook_not_found": (
        N_("No such webhook"),
        N_("No webhook subscription has this id among those you administer."),
        LOOKUP,
    ),
    "webhook_url_invalid": (
        N_("Webhook URL invalid"),
        N_(
            "The URL is not http(s), carries a user name or password, is too long, or (on a "
            "production installation) is not https or names this server."
        ),
        N_(
            "Send an https:// URL of the receiver, without credentials; the receiver checks "
            "the Sohoa-Signature header instead."
        ),
    ),
    "webhook_events_invalid": (
        N_("Event kinds invalid"),
        N_("The list of event kinds is empty, too long, or names a kind that does not exist."),
        N_(
            'Name kinds such as "dossier.receive" or "document.digitized", or "dossier.*" for '
            "every step of a dossier."
        ),
    ),
    "webhook_scope_invalid": (
        N_("Unit or province unknown"),
        N_(
            "The unit or province named does not exist, is outside your province, or the unit "
            "was merged into another."
        ),
        N_("Name an open unit's code (or its successor's) or a province code you administer."),
    ),
    "webhook_disabled": (
        N_("Webhook disabled"),
        N_("The webhook subscription is disabled: it cannot be changed, rotated or replayed."),
        N_("Create a new subscription for the receiver."),
    ),
    "role_forbidden": (
        N_("Role forbidden"),
        N_("Your account's role may not do this; detail names the roles that may."),
        ACCOUNT,
    ),
    "unit_forbidden": (
        N_("Not your unit"),
        N_("You do not work at this unit."),
        ACCOUNT,
    ),
    "not_supervisor": (
        N_("Not the supervisor"),
        N_(
            "Only the supervisor (or an administrator) confirms a probationer's receptions or "
            "evaluates the probation."
        ),
        ACCOUNT,
    ),
    "not_handed_to_postal": (
        N_("Not handed to postal staff"),
        N_(
            "At this unit the field or procedure is not handed to postal staff (yet); a civil "
            "servant receives it."
        ),
        N_("Hand it to a civil servant of the unit."),
    ),
    # -- staff, units and the catalog -----------------------------------------------------------
    "role_invalid": (
        N_("Role invalid"),
        N_("The role is counter, agency, harvester, auditor or admin."),
        FIX,
    ),
    "staff_exists": (
        N_("Staff exists"),
        N_("A staff member with this id exists."),
        N_("Choose another id."),
    ),
    "staff_id_invalid": (
        N_("Staff id invalid"),
        N_("A staff id starts with a-z or 0-9 and uses only a-z, 0-9, '.', '_' or '-'."),
        FIX,
    ),
    "invalid_clerk_id": (
        N_("Clerk id unusable"),
        N_(
            "The id cannot name a signing certificate (a reserved name such as 'unit', or "
            "characters it may not hold)."
        ),
        N_("Choose another id of a-z, 0-9, '.', '_' or '-'."),
    ),
    "staff_invalid": (
        N_("Staff details invalid"),
        N_("The employer is civil_servant or postal."),
        FIX,
    ),
    "staff_not_found": (
        N_("No such staff member"),
        N_("No staff member has this id."),
        LOOKUP,
    ),
    "unit_required": (
        N_("Unit required"),
        N_(
            "The action needs a unit code (unit_code): counter and agency accounts belong to a "
            "unit, reports and receptions name theirs."
        ),
        FIX,
    ),
    "supervisor_required": (
        N_("Supervisor required"),
        N_("A probationer needs a supervising civil servant of the same unit."),
        FIX,
    ),
    "probation_too_long": (
        N_("Probation too long"),
        N_("Probation lasts at most two months."),
        FIX,
    ),
    "not_on_probation": (
        N_("Not on probation"),
        N_("This staff member is not on probation; there is nothing to evaluate."),
        NOTHING,
    ),
    "note_required": (
        N_("Note required"),
        N_(
            "The action needs a written note (the evaluation of a probation, the announcement a "
            "calendar correction follows)."
        ),
        FIX,
    ),
    "backup_invalid": (
        N_("Backup invalid"),
        N_("A backup is a counter staff member."),
        FIX,
    ),
    "contact_invalid": (
        N_("Postal contact invalid"),
        N_("The postal contact needs at least a name."),
        FIX,
    ),
    "unit_code_invalid": (
        N_("Unit code invalid"),
        N_("A unit's electronic code looks like 000.00.16.H08 (QĐ 20/2020)."),
        FIX,
    ),
    "unit_invalid": (
        N_("Unit details invalid"),
        N_("The kind is one_stop or agency; the area urban, rural or remote."),
        FIX,
    ),
    "unit_exists": (
        N_("Unit exists"),
        N_("A unit with this code exists."),
        N_("Use another code, or change the existing unit."),
    ),
    "unit_not_found": (
        N_("No such unit"),
        N_("No unit has this code."),
        LOOKUP,
    ),
    "unit_closed": (
        N_("Unit closed"),
        N_(
            "The unit was merged into another and takes no new dossiers; its dossiers keep "
            "their codes."
        ),
        N_("Receive at the successor unit the detail names."),
    ),
    "merge_invalid": (
        N_("Merge invalid"),
        N_("A unit merges into a different unit that is still open, and closes only once."),
        STATE,
    ),
    "norm_missing": (
        N_("Staff norm missing"),
        N_("There is no staff norm for the unit's area type."),
        N_("An administrator sets the unit's area (urban, rural or remote)."),
    ),
    "series_exists": (
        N_("Series exists"),
        N_("This form symbol and series are registered already."),
        N_("Use the registered series, or register another."),
    ),
    "catalog_empty": (
        N_("The replacing catalog lists no procedure"),
        N_(
            "A catalog sent with replace=true lists no procedure; importing it would retire "
            "every procedure in force."
        ),
        N_(
            "Send the complete catalog (units and procedures); to add units alone, send them "
            "without replace."
        ),
    ),
    "catalog_invalid": (
        N_("Catalog invalid"),
        N_(
            "The catalog is not valid JSON or YAML, or does not match the catalog format; "
            "errors lists each place."
        ),
        N_("Fix the file at the places errors lists and import it again."),
    ),
    "catalog_too_large": (
        N_("Catalog file too large"),
        N_("The catalog file is over the size limit (max_bytes)."),
        N_("Split the catalog (units first, then procedures) and import the parts in turn."),
    ),
    "catalog_too_deep": (
        N_("Catalog nested too deeply"),
        N_("The file nests deeper than the limit (max_depth); a real catalog needs a few levels."),
        N_("Check how the file was produced, and import one in the catalog format."),
    ),
    "catalog_too_many_nodes": (
        N_("Catalog has too many nodes"),
        N_(
            "Expanded with its YAML aliases, the file holds more nodes than the limit "
            "(max_nodes): the mark of a YAML bomb."
        ),
        N_("Remove the repeated aliases or split the file, then import again."),
    ),
    "catalog_unknown_unit": (
        N_("Procedure routes to an unknown unit"),
        N_("A procedure names a competent agency whose unit code is not known."),
        N_("Declare those units first, or in the same file (units), and import again."),
    ),
    "catalog_version_date": (
        N_("New effective date missing"),
        N_(
            "A procedure changed but its effective_from is not after the current version's; "
            "accepting it would rewrite the rules dossiers were received under."
        ),
        N_("Give the changed procedure its new effective_from and import again."),
    ),
    "procedure_not_found": (
        N_("No such procedure"),
        N_("No procedure by this code is in force on the day asked."),
        N_("Look it up in GET /api/v1/procedures, or ask about another day (at)."),
    ),
    # -- dossiers -------------------------------------------------------------------------------
    "dossier_error": (
        N_("Dossier error"),
        N_("A dossier rule refused the request and no more specific code applies."),
        FIX,
    ),
    "dossier_not_found": (
        N_("No such dossier"),
        N_("No dossier by this code or id within your scope."),
        LOOKUP,
    ),
    "applicant_invalid": (
        N_("Applicant details invalid"),
        N_(
            "The applicant's name, ID type or ID number is missing or malformed (a CCCD number "
            "has 12 digits)."
        ),
        FIX,
    ),
    "notify_invalid": (
        N_("Notification consent invalid"),
        N_(
            "The notification choices cannot be honoured: channels without consent, consent "
            "without a channel, an unknown channel, an invalid e-mail address, or SMS/Zalo "
            "without a Vietnamese mobile number; field names which."
        ),
        FIX,
    ),
    "channel_invalid": (
        N_("Channel invalid"),
        N_("The channel is 1 (in person), 2 (online) or 3 (by post)."),
        FIX,
    ),
    "collect_at_invalid": (
        N_("Fee collection point invalid"),
        N_("collect_at is receipt, supplement or return."),
        FIX,
    ),
    "component_not_found": (
        N_("No such component"),
        N_("The dossier has no component with this id."),
        N_("Read the components from GET /api/v1/dossiers/{ref} and use one of their ids."),
    ),
    "component_unknown": (
        N_("Unknown component"),
        N_("The check names component keys the procedure does not list."),
        N_("Use the keys of components in GET /api/v1/procedures/{code}."),
    ),
    "count_invalid": (
        N_("Count invalid"),
        N_("A component's count is 0 to 100."),
        FIX,
    ),
    "dossier_incomplete": (
        N_("Dossier incomplete"),
        N_("Required components are missing, so the dossier cannot be received."),
        N_(
            "Check the components again (POST .../components/check) once every paper is there, "
            "or tell the applicant what to bring."
        ),
    ),
    "illegal_transition": (
        N_("Illegal transition"),
        N_(
            "The dossier (or queue ticket, receipt) is in a state that does not allow this "
            "step, e.g. returning a result before processing ends."
        ),
        STATE,
    ),
    "conflict": (
        N_("Conflict"),
        N_("The resource is not in a state that allows this."),
        STATE,
    ),
    "not_holder": (
        N_("Not the holder"),
        N_("Another agency of the route holds the dossier now."),
        STATE,
    ),
    "nothing_to_confirm": (
        N_("Nothing to confirm"),
        N_("No reception by a probationer is waiting for confirmation."),
        NOTHING,
    ),
    "reason_required": (
        N_("Reason required"),
        N_("The action needs a reason (a refusal, a stop, a withdrawal, an apology, a void)."),
        FIX,
    ),
    "supplement_invalid": (
        N_("Supplement request invalid"),
        N_("A supplement request lists the papers to supplement and says why."),
        FIX,
    ),
    "new_due_invalid": (
        N_("New appointment invalid"),
        N_("The new appointment must be after the current one."),
        FIX,
    ),
    "route_complete": (
        N_("Route complete"),
        N_("This is the last agency of the route; there is no one to forward to."),
        N_("Finish the dossier (POST .../finish)."),
    ),
    "route_not_complete": (
        N_("Route not complete"),
        N_("The route goes on to another agency before the dossier can finish."),
        N_("Forward the dossier (POST .../forward)."),
    ),
    "ticket_not_found": (
        N_("No such ticket"),
        N_("No queue ticket has this id."),
        LOOKUP,
    ),
    "sequence_exhausted": (
        N_("Sequence exhausted"),
        N_(
            "A numbering sequence is full: the day's dossier codes, a receipt series, or an "
            "owner's record numbers."
        ),
        N_("For receipts, register a new series; otherwise tell the operator."),
    ),
    # -- fees and receipts ----------------------------------------------------------------------
    "fee_not_due": (
        N_("Fee not due"),
        N_("Some items of the request are paid already or not part of the dossier."),
        N_("Read what is still due (GET .../fees) and take only those items."),
    ),
    "fees_unpaid": (
        N_("Fees unpaid"),
        N_("Fees are still due, so the result cannot be handed back yet."),
        N_("Take the fees first (POST .../payments), then return the result."),
    ),
    "nothing_due": (
        N_("Nothing due"),
        N_("Nothing is due on this dossier."),
        NOTHING,
    ),
    "method_invalid": (
        N_("Payment method invalid"),
        N_("The method is cash or transfer."),
        FIX,
    ),
    "payment_items_invalid": (
        N_("Payment items invalid"),
        N_("Each item paid names its fee code and an amount in VND above zero."),
        FIX,
    ),
    "no_receipt_series": (
        N_("No receipt series"),
        N_("The unit has no receipt series in use that day, so no receipt can be issued."),
        N_(
            "An administrator registers a series (POST /api/v1/admin/receipt-series); then "
            "take the payment again."
        ),
    ),
    "receipt_not_found": (
        N_("No such receipt"),
        N_("No receipt has this id."),
        LOOKUP,
    ),
    "receipt_voided": (
        N_("Receipt voided"),
        N_("The receipt is voided already."),
        NOTHING,
    ),
    "invalid_receipt_data": (
        N_("Invalid receipt data"),
        N_("Receipt data that must not be issued or printed (a missing payer, a wrong amount …)."),
        FIX,
    ),
    # -- forms ----------------------------------------------------------------------------------
    "form_render_failed": (
        N_("Form could not be rendered"),
        N_("The server could not produce the form's PDF."),
        OPERATOR,
    ),
    "form_unknown": (
        N_("Unknown form"),
        N_("The form number is not one the service issues (01, 02, 03, 04, 06)."),
        FIX,
    ),
    "form_not_found": (
        N_("No such form"),
        N_("The dossier has no issued form with this id."),
        N_("Read the dossier's forms from GET .../forms."),
    ),
    "forms_disabled": (
        N_("Forms disabled"),
        N_("Form signing is switched off on this server (SOHOA_SIGN_FORMS), so no form is issued."),
        N_("If forms are needed, ask the operator to switch it on."),
    ),
    "invalid_form_data": (
        N_("Invalid form data"),
        N_(
            "Data a form needs is missing or wrong (a reason, a negative amount, a time without "
            "a zone …)."
        ),
        FIX,
    ),
    "items_required": (
        N_("Items required"),
        N_("The form needs at least one item (a paper to supplement, a result handed over)."),
        FIX,
    ),
    "font_missing": (
        N_("Font missing"),
        N_(
            "The server lacks the Vietnamese font forms, receipts, reports and the stamp are "
            "printed with."
        ),
        N_("Ask the operator to install the font (fonts-noto-core)."),
    ),
    # -- results, returns and the repository ----------------------------------------------------
    "result_invalid": (
        N_("Result invalid"),
        N_("A result needs its type code and name."),
        FIX,
    ),
    "recipient_required": (
        N_("Recipient required"),
        N_(
            "A return at the counter needs the recipient's name, ID number and relation to the "
            "applicant."
        ),
        FIX,
    ),
    "postal_invalid": (
        N_("Postal details invalid"),
        N_("A postal return needs the tracking number and the postal fee (VND, 0 or more)."),
        FIX,
    ),
    "return_not_found": (
        N_("No such postal return"),
        N_("No postal return has this id."),
        LOOKUP,
    ),
    "link_invalid": (
        N_("Link lifetime invalid"),
        N_("A result link lives from 1 hour to 30 days."),
        FIX,
    ),
    "link_not_found": (
        N_("No such link"),
        N_("This result link does not exist."),
        N_("Check the link you received, copied whole."),
    ),
    "link_expired": (
        N_("Link expired"),
        N_("The link to an electronic result has expired or was revoked."),
        N_("Ask the one-stop counter to send a new link."),
    ),
    "no_result_document": (
        N_("No result document"),
        N_("The result is not digitized and signed yet, so it cannot be sent electronically."),
        N_("Wait until the result's scan is digitized, then send it."),
    ),
    "document_not_found": (
        N_("No such document"),
        N_("No document (a signed scan, or a result) by this id that you may see."),
        LOOKUP,
    ),
    "report_unavailable": (
        N_("XML validation report unavailable"),
        N_(
            "No ETSI TS 119 102-2 validation report (format=xml) can be made for this file: it "
            "carries no signature, or its PDF cannot be read."
        ),
        N_(
            "Ask for the report with format=json or format=pdf, which says what is wrong with "
            "the file."
        ),
    ),
    "already_reused": (
        N_("Component already reuses a record"),
        N_("This component already reuses a record of the data repository."),
        NOTHING,
    ),
    "record_not_reusable": (
        N_("No reusable record"),
        N_("The data repository holds no valid record of this owner and paper type."),
        N_("Digitize the paper: upload a scan to the component."),
    ),
    "reuse_invalid": (
        N_("Reuse invalid"),
        N_("The replacing result code is empty."),
        FIX,
    ),
    # -- uploads --------------------------------------------------------------------------------
    "ingest_failed": (
        N_("Upload not accepted"),
        N_("The upload was refused and no more specific code applies."),
        RESCAN,
    ),
    "scan_not_found": (
        N_("No such scan"),
        N_("No scan by this id that you may see."),
        LOOKUP,
    ),
    "scan_refused": (
        N_("Upload refused"),
        N_(
            "The upload with this id was refused on arrival and never processed; the body gives "
            "the reason."
        ),
        RESCAN,
    ),
    "attempts_exhausted": (
        N_("Attempts exhausted"),
        N_("The scan failed each time it was processed, and the pipeline gave up on it."),
        N_(
            "Read the scan's failure reason; once its cause is fixed, retry it (POST "
            "/api/v1/scans/{id}/retry)."
        ),
    ),
    "empty_file": (
        N_("Empty file"),
        N_("The uploaded file has no bytes."),
        N_("Pick the right file and upload it again."),
    ),
    "file_too_large": (
        N_("File too large"),
        N_("The upload is over the size limit."),
        SMALLER,
    ),
    "upload_too_large": (
        N_("Upload too large"),
        N_("The whole upload body is over its limit."),
        SMALLER,
    ),
    "unsupported_media_type": (
        N_("Unsupported media type"),
        N_("The file type or Content-Type is not supported (scans are PDF, JPEG, PNG or TIFF)."),
        FIX,
    ),
    "bad_form": (
        N_("Unreadable upload form"),
        N_("The multipart/form-data body is malformed or lacks its file field."),
        N_("Send it again as multipart/form-data with one file in the file field."),
    ),
    "too_many_files": (
        N_("Too many files"),
        N_("The upload holds more than one file."),
        N_("Send one file per request."),
    ),
    "form_too_large": (
        N_("Upload form too large"),
        N_("Something in the upload body besides the file is over its limit."),
        FIX,
    ),
    "form_fields_too_large": (
        N_("Form fields too large"),
        N_("The fields besides the file are over their size limit."),
        FIX,
    ),
    "too_many_form_fields": (
        N_("Too many form fields"),
        N_("The upload holds more fields than allowed."),
        FIX,
    ),
    "part_headers_too_large": (
        N_("Part headers too large"),
        N_("The headers of a multipart part are over their limit."),
        FIX,
    ),
    "invalid_field": (
        N_("Invalid field"),
        N_("A field of the upload (the OCR language, the password, the clerk id …) is not valid."),
        FIX,
    ),
    "file_corrupt": (
        N_("Corrupt file"),
        N_(
            "The file claims a supported type but cannot be read as one (truncated, damaged or "
            "hostile)."
        ),
        RESCAN,
    ),
    "pdf_encrypted": (
        N_("Encrypted PDF"),
        N_("The PDF is encrypted with a password."),
        N_("Send its password (the password field), or an unencrypted copy."),
    ),
    "pdf_wrong_password": (
        N_("Wrong PDF password"),
        N_("The password sent does not open the PDF."),
        N_("Send it again with the right password."),
    ),
    "xfa_form": (
        N_("Dynamic XFA form"),
        N_(
            "The PDF is a dynamic XFA form: it has no pages until a LiveCycle viewer draws "
            "them, so there is nothing to digitize."
        ),
        N_("Print it and scan the paper, or export it to a plain PDF."),
    ),
    "too_many_pages": (
        N_("Too many pages"),
        N_("The file has more pages than allowed."),
        SMALLER,
    ),
    "image_too_large": (
        N_("Image too large"),
        N_("The image has too many pixels: far beyond a counter's scan, or a decompression bomb."),
        SMALLER,
    ),
    "pdf_over_budget": (
        N_("PDF over budget"),
        N_("Rendering or inflating this PDF would cost more than any counter paper needs."),
        SMALLER,
    ),
    "page_too_large": (
        N_("Page too large"),
        N_("A PDF page is far larger than a dossier's paper."),
        SMALLER,
    ),
    "page_pixels_too_many": (
        N_("Page has too many pixels"),
        N_("A PDF page would render to more pixels than allowed."),
        SMALLER,
    ),
    "document_pixels_too_many": (
        N_("Document has too many pixels"),
        N_("The pages together hold more pixels than a set of papers needs."),
        SMALLER,
    ),
    "pdf_image_too_large": (
        N_("Image in the PDF too large"),
        N_("An image inside the PDF has too many pixels."),
        SMALLER,
    ),
    "pdf_stream_too_large": (
        N_("PDF stream too large"),
        N_("A stream in the PDF inflates beyond its limit."),
        SMALLER,
    ),
    "pdf_inflated_too_large": (
        N_("PDF inflates too far"),
        N_("The PDF's streams together inflate beyond the allowed size."),
        SMALLER,
    ),
    "pdf_inflation_ratio": (
        N_("Suspicious compression ratio"),
        N_(
            "A small stream inflates far beyond what text or drawings compress to: a "
            "decompression bomb."
        ),
        RESCAN,
    ),
    # -- the pipeline: OCR, PDF/A, signing ------------------------------------------------------
    "ocr_failed": (
        N_("OCR failed"),
        N_("Text recognition failed and no more specific code applies."),
        RETRY_SCAN,
    ),
    "ocr_engine_failed": (
        N_("OCR engine failed"),
        N_("OCRmyPDF or Tesseract failed while recognising the text."),
        RETRY_SCAN,
    ),
    "ocr_input_invalid": (
        N_("Input cannot be OCRed"),
        N_(
            "The file cannot be OCRed as sent (encrypted, damaged, signed, or a decompression "
            "bomb)."
        ),
        RESCAN,
    ),
    "ocr_timeout": (
        N_("OCR timeout"),
        N_("Tesseract or a helper ran out of time; the machine may just have been busy."),
        N_(
            "The pipeline retries it; if the scan still fails, retry it later (POST "
            "/api/v1/scans/{id}/retry)."
        ),
    ),
    "ocr_memory_limit": (
        N_("OCR memory limit"),
        N_("A page needs more memory than the OCR process may use."),
        SMALLER,
    ),
    "ocr_dependency_missing": (
        N_("OCR dependency missing"),
        N_("The worker lacks Tesseract, a language model or another program OCR needs."),
        OPERATOR,
    ),
    "pdfa_invalid": (
        N_("Not PDF/A"),
        N_("The output does not meet PDF/A-2b, so it is not archived."),
        RETRY_SCAN,
    ),
    "signing_failed": (
        N_("Signing failed"),
        N_("A signature could not be made."),
        OPERATOR,
    ),
    "signer_not_configured": (
        N_("Signer not configured"),
        N_(
            "No usable signing key for the request (a clerk without a certificate, a missing key "
            "file, a wrong password or PIN)."
        ),
        OPERATOR,
    ),
    "stamp_font_missing": (
        N_("Stamp font missing"),
        N_(
            "The server lacks the font of the visible signature stamp (Vietnamese glyphs, PDF/A "
            "safe)."
        ),
        OPERATOR,
    ),
    "signing_key_unavailable": (
        N_("Signing key unavailable"),
        N_("The key exists but cannot be reached right now (HSM session lost, token removed)."),
        RETRY,
    ),
    "timestamp_unavailable": (
        N_("Timestamp unavailable"),
        N_("The timestamp authority (RFC 3161) did not answer, or answered badly."),
        RETRY,
    ),
    "certificate_revoked": (
        N_("Signing certificate revoked"),
        N_(
            "The clerk's signing certificate has been revoked, so it can no longer sign; at PAdES "
            "B-LT and above the signature is refused and nothing is signed."
        ),
        N_(
            "Ask the administrator for a new signing certificate for the clerk, then sign again; "
            "the original file is kept."
        ),
    ),
    "certificate_not_valid": (
        N_("Certificate cannot be proven valid"),
        N_(
            "The signing certificate, or the timestamp authority's, cannot be proven valid now: "
            "its revocation status is unknown (the OCSP responder or CRL cannot be reached) or "
            "its chain does not lead to a trusted root. Nothing was signed."
        ),
        N_(
            "Try again in a few minutes: a revocation service that is down may answer later. If "
            "it keeps failing, tell the operator, who checks the trust roots and the OCSP and CRL "
            "addresses."
        ),
    ),
    "signing_confirmation_required": (
        N_("Clerk's confirmation required"),
        N_(
            "The clerk's key is held by a remote (CSC) signing service, which signs only with "
            "the clerk's PIN or OTP; none was given, or the one given was used for another "
            "document already."
        ),
        N_(
            "Ask the clerk for their PIN or OTP and sign again with it; each document needs its "
            "own confirmation."
        ),
    ),
    "signing_confirmation_rejected": (
        N_("Clerk's confirmation rejected"),
        N_(
            "The remote signing service refused the clerk's PIN or OTP, or the authorization it "
            "gave has expired or been used already."
        ),
        N_(
            "The clerk checks the PIN (or asks for a new OTP if it has expired) and confirms "
            "again; repeating a wrong PIN may lock the credential."
        ),
    ),
    "signing_credential_unusable": (
        N_("Remote signing credential unusable"),
        N_(
            "The remote signing service does not know the clerk's credential, or holds it (or "
            "its certificate) disabled, expired or revoked."
        ),
        N_(
            "Tell the operator: the clerk's credential must be fixed at the provider (the "
            "credential mapping, enabling it, or a new certificate); signing again as it is will "
            "not help."
        ),
    ),
    "signing_provider_error": (
        N_("Remote signing service failed"),
        N_(
            "The remote signing service answered with an error or with nothing usable (an error "
            "page, a malformed reply, a signature that does not match the certificate); nothing "
            "was signed."
        ),
        N_(
            "Try again in a few minutes; if it keeps happening, tell the operator: the provider "
            "may be failing."
        ),
    ),
    "unsignable_pdf": (
        N_("PDF cannot be signed"),
        N_(
            "The file is not a PDF that can take an incremental signature (corrupt, encrypted "
            "or locked)."
        ),
        RESCAN,
    ),
    "signed_input_locked": (
        N_("Signed PDF locked"),
        N_(
            "The file is certified (DocMDP) or locked against any change, so no signature can "
            "be added."
        ),
        N_("Obtain an unlocked copy from its issuer, or scan the paper."),
    ),
    "work_dir_full": (
        N_("Work disk full"),
        N_("The worker's scratch disk is full; not the file's fault."),
        N_("The pipeline retries it; if it lasts, tell the operator."),
    ),
    # -- storage and the database ---------------------------------------------------------------
    "database_unavailable": (
        N_("Database unavailable"),
        N_("The server cannot reach its database; nothing was done."),
        RETRY,
    ),
    "store_unavailable": (
        N_("Store unavailable"),
        N_("The object store cannot be reached or answered with a server error."),
        RETRY,
    ),
    "storage_error": (
        N_("Storage error"),
        N_("The object store failed."),
        OPERATOR,
    ),
    "object_not_found": (
        N_("Object not found"),
        N_("The object store holds nothing under this key."),
        N_(
            "If a record still points at it, ask the operator to run a fixity check (sohoa fixity)."
        ),
    ),
    "object_locked": (
        N_("Object locked"),
        N_("Retention or a legal hold (WORM) forbids changing or deleting the object."),
        N_(
            "It cannot change before its retention ends; ask the operator if there is a legal "
            "ground."
        ),
    ),
    "retention_not_supported": (
        N_("Retention not supported"),
        N_("The store (or bucket) has no object lock, so retention cannot be set."),
        OPERATOR,
    ),
    "checksum_mismatch": (
        N_("Checksum mismatch"),
        N_(
            "The bytes do not hash to the SHA-256 announced or recorded: damaged in transit or "
            "in the store."
        ),
        N_(
            "Send the file again; if a stored file is wrong, ask the operator to run a fixity "
            "check (sohoa fixity)."
        ),
    ),
    "invalid_object_key": (
        N_("Invalid object key"),
        N_("The key is not one the service builds; refused before touching the store."),
        N_("Use the download URLs the API gives; do not build keys."),
    ),
    "invalid_metadata": (
        N_("Invalid metadata"),
        N_("Metadata or a content type that cannot travel as HTTP headers to the store."),
        FIX,
    ),
    # -- the long-term archive ------------------------------------------------------------------
    "archive_chain_broken": (
        N_("Archive timestamp chain broken"),
        N_(
            "The newest timestamp of an archived document no longer validates (its TSA "
            "certificate expired or was revoked, or is not trusted), so a new timestamp cannot "
            "extend the document's proof."
        ),
        N_(
            "The operator examines the document (GET /api/v1/documents/{id}/report) and the "
            "trust roots; renewing it again will not help."
        ),
    ),
    "archive_horizon_not_extended": (
        N_("Renewal would not extend the archive"),
        N_(
            "The timestamp authority's certificate expires no later than the document's current "
            "timestamp, so a renewal would add nothing; none was stored."
        ),
        N_(
            "The operator configures a timestamp authority with a newer certificate "
            "(SOHOA_TSA_URL), then renews (sohoa archive renew)."
        ),
    ),
    "fixity_mismatch": (
        N_("Stored file damaged"),
        N_(
            "The stored file no longer matches its recorded SHA-256, so it was not renewed: a "
            "new timestamp would vouch for the damage."
        ),
        N_(
            "The operator checks the store (sohoa fixity), restores the file from a replica or "
            "backup, then renews (sohoa archive renew)."
        ),
    ),
    "configuration_invalid": (
        N_("Configuration invalid"),
        N_(
            "The server's settings cannot run the service (e.g. a production install on the "
            "development PKI)."
        ),
        N_("The operator corrects the settings (the SOHOA_… variables) and restarts."),
    ),
}


def _entry(code: str, title: str, meaning: str, action: str) -> ProblemType:
    vi = gettext_for("vi")
    return ProblemType(
        code=code,
        type=f"/problems/{code}",
        title=Bilingual(vi=vi(title), en=title),
        meaning=Bilingual(vi=vi(meaning), en=meaning),
        action=Bilingual(vi=vi(action), en=action),
    )


@cache
def problem_types() -> dict[str, ProblemType]:
    """Every entry, both languages; built on first use (the catalog is read then)."""
    return {code: _entry(code, *parts) for code, parts in sorted(_ENTRIES.items())}
