package zsync

import "strings"

// The change feed (PresenceChannel): the apply script publishes
// messages naming the users whose record a write changed (a status, a
// name, an email, an extension, a link), one per line, as "account\tuser"
// ("account\tuser\naccount\tuser…"). A message of one user is the same
// "account\tuser" as before batches were published together, so readers
// of either form agree.
const (
	changeFieldSep = "\t"
	changeLineSep  = "\n"
)

// FormatChanges is the change-feed message naming users (the apply
// script builds the same in Lua).
func FormatChanges(users []UserRef) string {
	var b strings.Builder
	for i, u := range users {
		if i > 0 {
			b.WriteString(changeLineSep)
		}
		b.WriteString(u.Account)
		b.WriteString(changeFieldSep)
		b.WriteString(u.Key)
	}
	return b.String()
}

// ParseChanges reads a change-feed message: the users it names, in
// order. Lines that are not "account\tuser" (empty, no tab, an empty
// part) are skipped: a reader never fails on the feed.
func ParseChanges(payload string) []UserRef {
	out := make([]UserRef, 0, strings.Count(payload, changeLineSep)+1)
	for line := range strings.SplitSeq(payload, changeLineSep) {
		account, user, ok := strings.Cut(line, changeFieldSep)
		if !ok || account == "" || user == "" || strings.Contains(user, changeFieldSep) {
			continue
		}
		out = append(out, UserRef{Account: account, Key: user})
	}
	return out
}
