// Package runs runs full resyncs (zsync.Puller.Resync of every account)
// one at a time, whoever starts them: the schedule inside serve, POST
// /v1/resync on any replica, or `zoomsync resync` (a CronJob), and records
// each run in Redis for GET /v1/resync/{run_id}.
//
// Invariants:
//   - At most one run at a time across replicas and processes: a run holds
//     the "resync" lease (fenced) under its own owner, run id @ replica,
//     so whoever finds the lease taken can name the run (RunningError),
//     and its deletions stop the moment it no longer holds it (the fence
//     is checked before each).
//   - A run's record exists before the lease names it, and a record that
//     never got the lease expires within a minute.
//   - A run releases the lease when it ends, also when its context ends
//     (a stopped process), and its record then says it was interrupted.
//   - A dry run writes and records nothing and takes no lease.
//   - The schedule is a periodic job (ScheduleSpec) every replica runs; a
//     tick that finds another run holding the lease is skipped.
package runs
