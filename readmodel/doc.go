// Package readmodel keeps, on each replica, an in-memory copy of what the
// helpdesk reads about every user: the lookup keys (Zoom user id, email,
// extension, and every lookup key of mapstore.Profile that records carry),
// the presence a lookup shows, the directory fields and the names the
// board searches. Lookups, bulk lookups, GET /v1/people and the live
// stream read it instead of Redis.
//
// It is fed like a client-go informer: a full load from Redis at start
// (the list), then the apply path's presence channel (the watch), whose
// users are re-read in batches; a full reload after any gap in the
// subscription (a reconnect loses messages), when the mapping announces a
// new version (or, should the announcement be missed, when the version
// polled every Options.MappingEvery differs), and when the periodic drift
// check finds users whose stored versions differ from the model's.
// MappingVersion says which mapping the model holds; a replica with a
// directory is not ready before it holds one.
//
// Invariants:
//   - A reader never sees a half-applied change: a batch of re-read users
//     is applied under one write lock; a reload builds a new model aside
//     and swaps it whole.
//   - What a reader can see is stale, never invented: every value was
//     read from Redis. A presence change is visible once its message
//     arrived and its user was re-read (BenchmarkReadModel measures the
//     lag). A change the channel does not announce (a name, an email, a
//     department, a directory link) is visible after the next mapping
//     publication or drift check (Options.DriftEvery), at the latest.
//   - A key the model does not hold is not an answer: callers fall back to
//     Redis (Lookup reports held=false), so a user created or re-keyed
//     since the last read is still found.
//   - Memory is bounded by the users: strings live in one byte arena per
//     model (compacted when more than a quarter is garbage), keys in
//     open-addressing tables of uint32 row numbers, no per-user map or
//     pointer.
package readmodel
