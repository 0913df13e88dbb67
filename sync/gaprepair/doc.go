// Package gaprepair repairs what a WebSocket event subscription missed.
// Zoom never redelivers events that happened while a subscription's
// socket was closed (or silent), so after every (re)connection, on any
// replica, the gap is repaired through the REST API:
//
//   - the presence of the account's active users is re-read, the most
//     recently active first (the freshness index: when each user's
//     presence was last confirmed), within ReadsPerSecond; users an event
//     confirmed after the gap ended are not read again;
//   - user changes are picked up by a pull of the account's users through
//     the versioned writes (Zoom's listing has no "changed since" filter;
//     a pull costs ceil(users/300) Medium requests).
//
// Invariants:
//   - Every write is a pulled fact versioned at the moment its read was
//     sent, so an event newer than the read always wins and a repair
//     never undoes one.
//   - One repair per account at a time on this replica; gaps arriving
//     meanwhile merge (earliest start, latest end) into one more run.
//   - A gap's start is recorded in Redis (Marks) before its repair
//     starts and cleared only when a repair from that start or earlier
//     completed, so a repair cut short by a crash or a lease handover is
//     redone by the next connection, on whichever replica.
//   - A failed repair (Zoom or Redis unavailable) runs again after
//     RetryAfter.
package gaprepair
