// Who a provider request is made for: a role in a database (the session's current_user and database, as JSON), or
// no one for the worker's requests, which all share one. The process's model-call slots are shared fairly between
// askers (call-limit.ts).

export type Asker = string | undefined;
