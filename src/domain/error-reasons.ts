// The closed catalogue of ErrorInfo reasons: every reason the server sends, the status class it is
// sent with, whether a client may retry it, and one line of meaning. DomainError takes its class
// and retryability from here, so a throw site names only the reason and an unknown reason fails
// the typecheck. docs/api.md's "Error reasons" table is generated from this module and a unit test
// keeps it exhaustive (every entry raised somewhere in src/, every raised reason listed).

/** The status classes of the domain's errors (gRPC's code names, without depending on gRPC). */
export type ErrorClass =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'UNAVAILABLE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

export interface ReasonSpec {
  /** The status class the reason is sent with. */
  readonly code: ErrorClass;
  /**
   * True when the same call, sent again later unchanged (after backoff, or after the
   * `retry_after_ms` the error carries; a stream resumed from its last processed cursor), may
   * succeed. Sent as ErrorInfo metadata `retryable` ("true" or "false").
   */
  readonly retryable: boolean;
  /** What happened, in one line. */
  readonly meaning: string;
  /**
   * The class an occurrence is sent with when its thrower knows the cause is permanent
   * (never retryable then); only for reasons whose cause may be either.
   */
  readonly permanentCode?: ErrorClass;
}

export const ERROR_REASONS = {
  // INVALID_ARGUMENT: the request itself is wrong; nothing ran or was written.
  AFTER_SEQ_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A process event listing starts after a sequence number out of range.' },
  AUTHORIZATION_MALFORMED: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'The authorization metadata is not a bearer token (`Bearer` and the token).' },
  AVAILABILITY_EMPTY: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A tool availability change names no tool.' },
  AVAILABLE_AT_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'Queued work has an available_at outside the years 1 to 9999.' },
  CONTEXT_WINDOW_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A model context window is not a positive integer.' },
  CONTEXT_WINDOW_TOO_LARGE: {
    code: 'INVALID_ARGUMENT',
    retryable: false,
    meaning: 'A model context window is larger than the model catalog says the model has.',
  },
  CURSOR_MALFORMED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A feed cursor is not one this server issued.' },
  CURSOR_SESSION_MISMATCH: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A feed cursor belongs to another session.' },
  ENUM_VALUE_UNKNOWN: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'An enum field holds a number the contract does not define.' },
  FIRST_DUE_TIME_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: "A schedule's first due time is not within 366 days of now." },
  GENERATION_OUT_OF_RANGE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A restored tool-state generation is above 2^53 - 1.' },
  HELLO_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A ServeTools stream did not start with hello.' },
  ID_NOT_PRINTABLE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'An id or name holds control characters.' },
  ID_TOO_LONG: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'An id or name is longer than 256 bytes.' },
  IDEMPOTENCY_KEY_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A session command or signal has no idempotency key.' },
  INPUT_EMPTY: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'Turn input has no items.' },
  INPUT_ITEM_EMPTY: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A turn input item sets neither text nor image_ref.' },
  INPUT_MISSING: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A turn request has no input.' },
  INPUT_TOO_LARGE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'Turn input has too many items or too many bytes of text.' },
  INTERVAL_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A schedule interval is outside the allowed range.' },
  MAX_OUTPUT_EXCEEDS_CONTEXT_WINDOW: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A model output cap is not smaller than its context window.' },
  MAX_OUTPUT_TOKENS_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A model output cap is set but not positive.' },
  MAX_OUTPUT_TOKENS_TOO_LARGE: {
    code: 'INVALID_ARGUMENT',
    retryable: false,
    meaning: 'A model output cap is above what the model catalog says the model writes.',
  },
  MAX_RUN_TIME_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: "A process's max_run_ms is outside the allowed range." },
  MAX_TURNS_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: "A session's max_turns is set but not positive." },
  MERGE_KEY_TOO_LONG: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A queue merge key is longer than 256 bytes.' },
  MESSAGE_ROLE_MISSING: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A message has no role.' },
  MESSAGES_TOO_LARGE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'Appended messages are over their byte limit.' },
  METADATA_KEY_EMPTY: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A metadata key is empty.' },
  METADATA_TOO_LARGE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'Metadata has more than 64 entries or 4096 bytes.' },
  MISSING_ID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A required id or name is empty.' },
  MODEL_ID_MISSING: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A model update has no model id.' },
  MODEL_SPEC_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A number in a model spec is not positive.' },
  NAMES_EMPTY: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A tool override reset names no tool.' },
  NO_MESSAGES: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'An append names no message.' },
  NOTHING_TO_UPDATE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A config update changes nothing.' },
  PAGE_SIZE_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A page size is negative or too large.' },
  PAGE_TOKEN_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A page token is not one this listing issued.' },
  PARENT_IS_SELF: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A session names itself as its parent.' },
  PART_KIND_MISSING: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A message part sets no kind.' },
  PAYLOAD_TOO_LARGE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A process, signal or trigger payload is over its byte limit.' },
  PROCESS_KIND_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A process kind is not one the server runs.' },
  PROCESS_KIND_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A process start names no kind.' },
  PROMPT_TOO_LARGE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A prompt layer is over its byte limit.' },
  PROVIDER_ID_MISSING: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A config update masks provider_id but leaves it empty.' },
  REASONING_UNSUPPORTED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A reasoning effort is set for a model that does not reason.' },
  REMOTE_TOOLS_TOO_MANY: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A session binds more remote tools than allowed.' },
  REQUEST_MALFORMED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: "The request body is not a valid protobuf encoding of the method's request." },
  REQUEST_TOO_DEEP: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'The request nests more than 100 protobuf messages.' },
  RESOLUTION_MISSING: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A completion resolution sets no outcome.' },
  SCHEDULE_INTERVAL_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A first due time is given without an interval.' },
  SCHEDULE_SOURCE_REQUIRED: {
    code: 'INVALID_ARGUMENT',
    retryable: false,
    meaning: 'A scheduled trigger subscription has another source type than the schedule.',
  },
  SCOPE_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A tool host hello names neither a session nor tenant_wide.' },
  SNAPSHOT_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A child started from a snapshot has no snapshot.' },
  STATE_DOCUMENT_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'An imported or restored state document does not have the expected shape.' },
  STATE_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A state import or restore has no state.' },
  STATE_TOO_LARGE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'An imported state is over its byte limit.' },
  SUBSCRIPTION_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A trigger subscription request has no subscription.' },
  TASK_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A session-turn process or template has no task.' },
  TASK_TOO_LARGE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A process task is over its byte limit.' },
  TEMPLATE_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A trigger subscription has no template.' },
  TEMPLATE_SECTION_EMPTY: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A prompt template section sets nothing.' },
  TEXT_HAS_NUL: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'Configuration text holds a NUL character.' },
  TEXT_NOT_PRINTABLE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A metadata value holds NUL or a control character.' },
  TIME_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A time is outside the years 1 to 9999.' },
  TIME_RANGE_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A time range starts after it ends.' },
  TOOL_BINDING_DUPLICATE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A session binds the same tool to the same host twice.' },
  TOOL_HOST_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A remote tool binding names a host of the wrong length.' },
  TOOL_NAME_DUPLICATE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A tool host advertises the same tool twice.' },
  TOOL_NAME_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A tool name does not match the allowed pattern.' },
  TOOL_NAME_RESERVED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A tool host advertises the name of a built-in tool.' },
  TOOL_RESULT_EMPTY: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A tool result sets no outcome.' },
  TOOL_RESULT_EXPECTED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A tool host sent something other than a tool result after hello.' },
  TOOL_RESULT_TOO_LARGE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A remote tool result is over its byte limit.' },
  TOOLS_EMPTY: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A tool host hello advertises no tool.' },
  UPDATE_MASK_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'An update mask names a path that cannot be updated.' },
  WAIT_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A wait is outside 0 to one hour.' },
  CRON_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A schedule cron expression is not 5 or 6 cron fields, or too long.' },
  CRON_NEVER_DUE: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A cron expression has no future due time.' },
  FIRST_DUE_TIME_WITH_CRON: {
    code: 'INVALID_ARGUMENT',
    retryable: false,
    meaning: 'A first due time is given with a cron schedule (it applies to intervals).',
  },
  PROGRAM_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'An rlm_program process has no program in input.task.' },
  SCHEDULE_CONFLICT: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A schedule names both an interval and a cron expression.' },
  SCHEDULE_CRON_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A time zone is given without a cron expression.' },
  SCOPE_SESSION_REQUIRED: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A frame scope is given without the session it belongs to.' },
  TIME_ZONE_INVALID: { code: 'INVALID_ARGUMENT', retryable: false, meaning: 'A schedule time zone is not an IANA zone name.' },

  // NOT_FOUND: the thing named does not exist (any more).
  ATTACHMENT_NOT_FOUND: {
    code: 'NOT_FOUND',
    retryable: false,
    meaning: 'An attachment id is not referenced by the session (never stored, or only by other sessions or tenants).',
  },
  CHILD_NOT_FOUND: { code: 'NOT_FOUND', retryable: false, meaning: 'A session is not a child of the named parent.' },
  NODE_NOT_FOUND: { code: 'NOT_FOUND', retryable: false, meaning: 'A graph node is not in the session.' },
  PARENT_NOT_FOUND: { code: 'NOT_FOUND', retryable: false, meaning: 'A parent session does not exist.' },
  PROCESS_NOT_FOUND: { code: 'NOT_FOUND', retryable: false, meaning: 'A process does not exist.' },
  SERVICE_UNKNOWN: { code: 'NOT_FOUND', retryable: false, meaning: 'A health check names a service this server does not have.' },
  SESSION_DELETED: { code: 'NOT_FOUND', retryable: false, meaning: 'An observed session was deleted; its feed is gone.' },
  SESSION_NOT_FOUND: { code: 'NOT_FOUND', retryable: false, meaning: 'A session does not exist; open it first.' },
  SUBSCRIPTION_NOT_FOUND: { code: 'NOT_FOUND', retryable: false, meaning: 'A trigger subscription does not exist.' },
  TURN_NOT_FOUND: { code: 'NOT_FOUND', retryable: false, meaning: 'A turn is neither running nor committed.' },

  // ALREADY_EXISTS: an id is taken.
  CHILD_ID_TAKEN: { code: 'ALREADY_EXISTS', retryable: false, meaning: 'A child session id is already a session.' },
  MESSAGE_ID_TAKEN: { code: 'ALREADY_EXISTS', retryable: false, meaning: 'An appended message id is already a node of the session.' },
  NODE_ID_TAKEN: { code: 'ALREADY_EXISTS', retryable: false, meaning: 'A node id of a commit already exists in the session.' },
  TURN_ID_REUSED: { code: 'ALREADY_EXISTS', retryable: false, meaning: 'A turn id exists with different input.' },

  // FAILED_PRECONDITION: valid, but the server or the session's state does not allow it.
  CHILD_DEPTH_EXCEEDED: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'A new child session would nest deeper than run_child allows.' },
  DRAIN_NOT_HEAD_PREFIX: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'The batches a drain names are not the head of the queue in order.' },
  FRAME_NOT_CURRENT: { code: 'FAILED_PRECONDITION', retryable: false, meaning: "A frame scope is not the session's current agent frame." },
  MODE_MISMATCH: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'A session is opened in another mode than it was created in.' },
  MODE_UNAVAILABLE: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'The requested mode is not offered by this server.' },
  NOT_A_CHILD: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'A run_child session id exists and is not a child of this session.' },
  PARENT_CYCLE: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'A new parent descends from the session.' },
  PARENT_MISMATCH: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'A session exists with another parent.' },
  PROCESS_FINISHED: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'A signalled process has already finished.' },
  PROVIDER_UNAVAILABLE: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'A session uses a provider this server does not have.' },
  SIGNAL_NOT_AWAITED: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'A process does not wait for a signal of that name.' },
  STATE_NEEDS_CHUNKS: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'A state is too large for one answer; export it in chunks.' },
  STATE_SESSION_MISMATCH: { code: 'FAILED_PRECONDITION', retryable: false, meaning: 'An imported state belongs to another session.' },

  // ABORTED: a concurrent writer won.
  GENERATION_CONFLICT: { code: 'ABORTED', retryable: false, meaning: 'Tool state is at another generation than expected; read it again.' },
  REVISION_CONFLICT: { code: 'ABORTED', retryable: true, meaning: 'The session changed concurrently; nothing was written.' },
  SESSION_CREATED_CONCURRENTLY: { code: 'ABORTED', retryable: true, meaning: 'The session was created by a concurrent call.' },
  STORE_CONFLICT: { code: 'ABORTED', retryable: true, meaning: 'The store gave up a transaction that conflicted with a concurrent one; nothing was written.' },
  STALE_CLAIM: { code: 'ABORTED', retryable: true, meaning: "A drain's claim on a queued batch expired and was taken over; nothing was committed." },
  STATE_CHANGED_DURING_EXPORT: {
    code: 'ABORTED',
    retryable: false,
    meaning: 'The session changed during a chunked export; start it again without page_token.',
  },

  // RESOURCE_EXHAUSTED: a limit is reached.
  CHILD_LIMIT_PER_ROOT: { code: 'RESOURCE_EXHAUSTED', retryable: false, meaning: 'A session tree has as many sessions as run_child may create.' },
  CHILD_LIMIT_PER_TURN: { code: 'RESOURCE_EXHAUSTED', retryable: false, meaning: 'A turn created as many child sessions as one turn may.' },
  OBSERVE_RATE_EXCEEDED: {
    code: 'RESOURCE_EXHAUSTED',
    retryable: true,
    meaning: 'Observers start faster than this process admits; retry after retry_after_ms.',
  },
  OBSERVER_TOO_SLOW: {
    code: 'RESOURCE_EXHAUSTED',
    retryable: true,
    meaning: 'An observer left too much of its feed untaken; resume from its last processed cursor.',
  },
  PROCESS_LIMIT_PER_SESSION: { code: 'RESOURCE_EXHAUSTED', retryable: false, meaning: 'A session has as many active processes as allowed.' },
  PROCESS_LIMIT_PER_TENANT: { code: 'RESOURCE_EXHAUSTED', retryable: false, meaning: 'A tenant has as many active processes as allowed.' },
  SUBSCRIPTION_LIMIT: { code: 'RESOURCE_EXHAUSTED', retryable: false, meaning: 'A tenant has as many trigger subscriptions as allowed.' },
  TENANT_OBSERVER_LIMIT: { code: 'RESOURCE_EXHAUSTED', retryable: true, meaning: 'A tenant has as many observers open on this server as allowed.' },
  TENANT_QUEUE_LIMIT: { code: 'RESOURCE_EXHAUSTED', retryable: true, meaning: 'A tenant has as many open queue batches as allowed.' },
  TENANT_SESSION_LIMIT: { code: 'RESOURCE_EXHAUSTED', retryable: false, meaning: 'A tenant has as many sessions as allowed; delete some first.' },
  TENANT_TURN_LIMIT: { code: 'RESOURCE_EXHAUSTED', retryable: true, meaning: 'A tenant has as many turns running on this server as allowed.' },
  TOO_MANY_OBSERVERS: { code: 'RESOURCE_EXHAUSTED', retryable: true, meaning: 'This process serves as many observers as it may.' },
  TOO_MANY_TURNS: { code: 'RESOURCE_EXHAUSTED', retryable: true, meaning: 'This process runs as many turns as it may; nothing ran.' },

  // UNAUTHENTICATED / PERMISSION_DENIED: who is calling, and what they may do.
  CERTIFICATE_UNMAPPED: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'The client certificate maps to no identity.' },
  CREDENTIALS_MISSING: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'The server needs credentials and the call has none.' },
  FORWARDED_IDENTITY_MALFORMED: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A forwarded identity header holds no usable name.' },
  FORWARDED_IDENTITY_UNMAPPED: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A forwarded identity maps to no identity.' },
  FORWARDED_IDENTITY_UNTRUSTED: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A forwarded identity header came from an untrusted peer.' },
  ROLE_REQUIRED: { code: 'PERMISSION_DENIED', retryable: false, meaning: 'The caller lacks the role the method needs.' },
  TOKEN_ALGORITHM_NOT_ALLOWED: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A JWT is signed with an algorithm that is not accepted.' },
  TOKEN_AUDIENCE_MISMATCH: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A JWT is for another audience.' },
  TOKEN_CLAIM_INVALID: { code: 'UNAUTHENTICATED', retryable: false, meaning: "A JWT's tenant claim is not a tenant id." },
  TOKEN_EXPIRED: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A JWT has expired.' },
  TOKEN_ISSUER_MISMATCH: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A JWT has another issuer.' },
  TOKEN_KEY_UNKNOWN: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A JWT is signed with a key the key set does not hold.' },
  TOKEN_MALFORMED: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A bearer token is not a well-formed JWT.' },
  TOKEN_NOT_YET_VALID: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A JWT is not valid yet.' },
  TOKEN_SIGNATURE_INVALID: { code: 'UNAUTHENTICATED', retryable: false, meaning: "A JWT's signature does not verify." },
  TOKEN_TENANT_MISSING: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A JWT has no claim naming its tenant.' },
  TOKEN_UNKNOWN: { code: 'UNAUTHENTICATED', retryable: false, meaning: 'A bearer token is not one this server knows.' },
  TOOL_NOT_BOUND: { code: 'PERMISSION_DENIED', retryable: false, meaning: 'A session does not bind a tool its host offers to that host.' },
  TOOL_NOT_OPTED_IN: { code: 'PERMISSION_DENIED', retryable: false, meaning: 'A tenant-wide host offers a tool the operator did not opt in.' },

  // CANCELLED / DEADLINE_EXCEEDED: the caller stopped waiting.
  AWAIT_ABANDONED: { code: 'CANCELLED', retryable: false, meaning: 'The caller stopped waiting for a batch or process; it is unaffected.' },
  CALL_CANCELLED: { code: 'CANCELLED', retryable: false, meaning: 'The call was cancelled while it waited to start.' },
  TURN_STILL_RUNNING: { code: 'DEADLINE_EXCEEDED', retryable: false, meaning: 'The caller stopped waiting for a turn; GetTurn has its result later.' },
  WRITER_WAIT_CANCELLED: { code: 'CANCELLED', retryable: false, meaning: 'The call ended while it waited for a running turn; nothing changed.' },

  // UNAVAILABLE: try again later.
  COMPACTION_EMPTY: { code: 'UNAVAILABLE', retryable: true, meaning: 'The model returned no summary; nothing changed.' },
  COMPACTION_PROVIDER_ERROR: {
    code: 'UNAVAILABLE',
    retryable: true,
    permanentCode: 'FAILED_PRECONDITION',
    meaning: 'The model could not summarise the session; nothing changed (FAILED_PRECONDITION when the provider error is permanent).',
  },
  JWKS_UNAVAILABLE: { code: 'UNAVAILABLE', retryable: true, meaning: 'The key set that verifies tokens cannot be fetched.' },
  SERVER_DRAINING: {
    code: 'UNAVAILABLE',
    retryable: true,
    meaning: 'This replica is shutting down; observers and process watches resume, tool hosts reconnect, on another.',
  },
  STORE_UNAVAILABLE: { code: 'UNAVAILABLE', retryable: true, meaning: 'The session store is unreachable right now.' },
  STREAM_RECYCLED: {
    code: 'UNAVAILABLE',
    retryable: true,
    meaning: "A long-lived stream (observer, tool host, process watch) ended before its connection's maximum age; resume or reconnect it.",
  },

  // INTERNAL: a bug.
  INTERNAL: { code: 'INTERNAL', retryable: false, meaning: 'A bug; the cause is logged under metadata.correlation_id, never returned.' },
} as const satisfies Record<string, ReasonSpec>;

export type ErrorReason = keyof typeof ERROR_REASONS;

/** The reasons sent with status class `C` (as their usual class). */
export type ReasonOf<C extends ErrorClass> = { [R in ErrorReason]: (typeof ERROR_REASONS)[R]['code'] extends C ? R : never }[ErrorReason];

/** The catalogue entry of a reason. */
export const reasonSpec = (reason: ErrorReason): ReasonSpec => ERROR_REASONS[reason];
