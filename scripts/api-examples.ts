// Hand-written request bodies for the API reference (docs/api.md): one per RPC, in the proto JSON
// form `buf curl` sends. scripts/api-reference.ts turns each into a `buf curl` command; an RPC
// without an entry here still gets a skeleton example, marked as such, so new RPCs never break
// `npm run gen` — but add a real body here when you add an RPC.

/** Example request body per "Service/Method" (JSON field names as the proto JSON mapping spells them). */
export const EXAMPLE_BODIES: Record<string, unknown> = {
  // SessionService
  'SessionService/OpenSession': { sessionId: 'support-42', spec: { model: { id: 'gpt-4o-mini' }, providerId: 'openai' }, metadata: { team: 'support' } },
  'SessionService/GetSession': { sessionId: 'support-42' },
  'SessionService/ListSessions': { pageSize: 50, filter: { metadata: { team: 'support' } } },
  'SessionService/CloseSession': { sessionId: 'support-42' },
  'SessionService/DeleteSession': { sessionId: 'support-42' },
  'SessionService/GetReadView': { sessionId: 'support-42', pageSize: 100 },
  'SessionService/GetAttachment': { sessionId: 'support-42', attachmentId: 'ATTACHMENT_ID_FROM_AN_IMAGE_PART' },
  'SessionService/GetUsageReport': { sessionId: 'support-42' },
  'SessionService/UpdateSessionConfig': { sessionId: 'support-42', model: { id: 'gpt-4o' }, updateMask: 'model' },
  'SessionService/ExportSessionState': { sessionId: 'support-42' },
  'SessionService/ExportSessionStateChunk': { sessionId: 'support-42', pageToken: '' },
  'SessionService/ObserveSession': { sessionId: 'support-42' },
  // TurnService
  'TurnService/RunTurn': { sessionId: 'support-42', turnId: 'turn-0001', input: { items: [{ text: { text: 'Where is my order 1234?' } }] } },
  'TurnService/StartTurn': { sessionId: 'support-42', turnId: 'turn-0002', input: { items: [{ text: { text: 'Summarise the thread.' } }] } },
  'TurnService/GetTurn': { sessionId: 'support-42', turnId: 'turn-0002' },
  'TurnService/CancelTurn': { sessionId: 'support-42', turnId: 'turn-0002' },
  'TurnService/CancelRunningTurns': { sessionId: 'support-42' },
  'TurnService/ResolveCompletion': { completionKey: 'approval-7', resolution: { value: { approved: true } } },
  'TurnService/ServeTools': {
    hello: { tools: [{ name: 'lookup', description: 'Looks a word up', inputSchema: { type: 'object' } }], scope: { sessionId: 'support-42' } },
  },
  // QueueService
  'QueueService/EnqueueTurnInput': { sessionId: 'support-42', id: 'ticket-981', input: { items: [{ text: { text: 'New ticket #981 arrived.' } }] } },
  'QueueService/ListQueuedWork': { sessionId: 'support-42' },
  'QueueService/CancelQueuedWorkBatch': { sessionId: 'support-42', batchId: 'BATCH_ID_FROM_ENQUEUE' },
  'QueueService/AwaitQueuedWorkBatch': { sessionId: 'support-42', batchId: 'BATCH_ID_FROM_ENQUEUE' },
  'QueueService/RunQueuedTurn': { sessionId: 'support-42', drainId: 'drain-0001' },
  // AdminService
  'AdminService/GetToolState': { sessionId: 'support-42' },
  'AdminService/SetToolAvailability': { sessionId: 'support-42', availability: { lookup: 'TOOL_AVAILABILITY_OFF' } },
  'AdminService/ClearToolAvailabilityOverride': { sessionId: 'support-42', names: ['lookup'] },
  'AdminService/ApplyToolState': { sessionId: 'support-42', state: { generation: '3' }, expectedGeneration: '3' },
  'AdminService/RestoreToolState': { sessionId: 'support-42', state: { generation: '3' } },
  'AdminService/RefreshToolCatalog': { sessionId: 'support-42', reason: 'deployed new tools', idempotencyKey: 'deploy-2026-11-27' },
  'AdminService/ResetSession': { sessionId: 'support-42', reason: 'customer asked to start over', idempotencyKey: 'reset-1' },
  'AdminService/AppendMessages': { sessionId: 'support-42', messages: [{ role: 'MESSAGE_ROLE_USER', parts: [{ text: { text: 'Note: customer is VIP.' } }] }] },
  'AdminService/BranchToNode': { sessionId: 'support-42', nodeId: 'NODE_ID_FROM_READ_VIEW' },
  'AdminService/CompactContext': { sessionId: 'support-42', instructions: 'Keep order numbers.' },
  'AdminService/CreateChildSession': { sessionId: 'support-42', childSessionId: 'support-42-research', start: 'CHILD_START_PARENT' },
  'AdminService/ListChildSessions': { sessionId: 'support-42' },
  'AdminService/CloseChildSession': { sessionId: 'support-42', childSessionId: 'support-42-research' },
  'AdminService/StartProcess': {
    kind: 'PROCESS_KIND_SESSION_TURN',
    input: { task: 'Research competitor pricing.' },
    scopeSessionId: 'support-42',
    wakeSessionId: 'support-42',
    idempotencyKey: 'research-1',
  },
  'AdminService/GetProcess': { processId: 'PROCESS_ID_FROM_START' },
  'AdminService/ListProcesses': { scopeSessionId: 'support-42', pageSize: 50 },
  'AdminService/AwaitProcess': { processId: 'PROCESS_ID_FROM_START', waitMs: 30000 },
  'AdminService/CancelProcess': { processId: 'PROCESS_ID_FROM_START', reason: 'no longer needed' },
  'AdminService/CancelProcesses': { scopeSessionId: 'support-42', reason: 'session closed' },
  'AdminService/SignalProcess': { processId: 'PROCESS_ID_FROM_START', name: 'approved', payload: { by: 'ops' }, idempotencyKey: 'approve-1' },
  'AdminService/ListProcessEvents': { processId: 'PROCESS_ID_FROM_START', afterSeq: '0', pageSize: 100 },
  'AdminService/WatchProcessEvents': { processId: 'PROCESS_ID_FROM_START', afterSeq: '0' },
  'AdminService/PutTriggerSubscription': {
    subscription: {
      subscriptionId: 'nightly-summary',
      sourceType: 'schedule',
      sourceKey: 'nightly',
      template: { kind: 'PROCESS_KIND_SESSION_TURN', task: 'Summarise the day.', wakeSessionId: 'support-42' },
      cron: '0 22 * * *',
      timeZone: 'Europe/Berlin',
    },
  },
  'AdminService/ListTriggerSubscriptions': { sourceType: 'webhook', pageSize: 50 },
  'AdminService/DeleteTriggerSubscription': { subscriptionId: 'nightly-summary' },
  'AdminService/EmitTrigger': { sourceType: 'webhook', sourceKey: 'github/push', payload: { ref: 'main' }, idempotencyKey: 'delivery-8f2c' },
  'AdminService/ListAuditRecords': { sessionId: 'support-42', method: 'lash.v1.SessionService/DeleteSession', since: '2026-11-01T00:00:00Z', pageSize: 50 },
  // grpc.health.v1
  'Health/Check': { service: '' },
  'Health/List': {},
  'Health/Watch': { service: '' },
};

/** Extra client-library examples: "Service/Method" → [language, snippet]. */
export const EXAMPLE_SNIPPETS: Record<string, [string, string][]> = {
  'TurnService/RunTurn': [
    [
      'ts',
      `const turn = client.runTurn({ sessionId: 'support-42', turnId: 'turn-0001', input: { items: [{ item: { $case: 'text', value: { text: 'Where is my order 1234?' } } }] } });\nfor await (const delta of turn.deltas()) process.stdout.write(delta);\nconst result = await turn.done();`,
    ],
    [
      'python',
      `turn = client.turn("support-42", "Where is my order 1234?", turn_id="turn-0001")\nfor delta in turn:\n    print(delta, end="", flush=True)\nprint(turn.result.turn_index)`,
    ],
  ],
  'SessionService/ObserveSession': [
    [
      'ts',
      `// Resumes from its last cursor across disconnects and server restarts.\nfor await (const m of client.observe('support-42', { signal })) console.log(m.sequence, m.kind?.$case);`,
    ],
    [
      'python',
      `# Resumes from its last cursor across disconnects and server restarts.\nfor message in client.observe("support-42"):\n    print(message.sequence, message.WhichOneof("kind"))`,
    ],
  ],
  'TurnService/ServeTools': [
    [
      'python',
      `host = ToolHost(client, session_id="support-42")\n\n@host.tool(description="Looks a word up", schema={"type": "object", "properties": {"word": {"type": "string"}}})\ndef lookup(word: str) -> dict:\n    return {"word": word}\n\nhost.serve()`,
    ],
  ],
  'QueueService/EnqueueTurnInput': [
    [
      'ts',
      `// Retried after UNAVAILABLE: the id makes a repeat return the same batch.\nconst { batch, deduplicated } = await client.queue.enqueueTurnInput({ sessionId: 'support-42', id: 'ticket-981', input });`,
    ],
    ['python', `client.enqueue("support-42", "New ticket #981 arrived.", id="ticket-981")`],
  ],
  'QueueService/RunQueuedTurn': [
    ['python', `turn = client.drain("support-42")\nturn.wait()\nprint("nothing to do" if turn.nothing_to_do else turn.result.turn_id)`],
  ],
  'SessionService/GetSession': [
    [
      'ts',
      `try {\n  const { session } = await client.sessions.getSession({ sessionId: 'support-42' }, { deadlineMs: 5_000 });\n} catch (err) {\n  if (err instanceof LashError && err.reason === 'SESSION_NOT_FOUND') { /* open it first */ }\n}`,
    ],
    [
      'python',
      `try:\n    session = client.sessions.GetSession(pb.session_service_pb2.GetSessionRequest(session_id="support-42")).session\nexcept NotFound as err:\n    print(err.reason, err.metadata)  # SESSION_NOT_FOUND {'session_id': 'support-42'}`,
    ],
  ],
};
