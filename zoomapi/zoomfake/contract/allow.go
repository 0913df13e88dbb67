package contract

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// allowList is testdata/zoom-openapi/allowlist.json: the deviations that
// are known and accepted, each with its reason.
type allowList struct {
	Entries []allowEntry `json:"entries"`
}

// allowEntry accepts the deviations of one side and operation (a trailing
// "*" matches a prefix) whose message contains Contains.
type allowEntry struct {
	ID        string `json:"id"`
	Side      string `json:"side"`
	Operation string `json:"operation"`
	Contains  string `json:"contains"`
	Reason    string `json:"reason"`
	Evidence  string `json:"evidence"`
}

func loadAllowList() (*allowList, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, allowFile))
	if err != nil {
		return nil, err
	}
	var al allowList
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&al); err != nil {
		return nil, fmt.Errorf("%s: %w", allowFile, err)
	}
	ids := map[string]bool{}
	for i, e := range al.Entries {
		switch {
		case e.ID == "" || ids[e.ID]:
			return nil, fmt.Errorf("%s: entry %d: a unique id is required", allowFile, i+1)
		case e.Side != "request" && e.Side != "response" && e.Side != "event":
			return nil, fmt.Errorf("%s: %s: side must be request, response or event", allowFile, e.ID)
		case e.Operation == "" || e.Reason == "" || e.Evidence == "":
			return nil, fmt.Errorf("%s: %s: operation, reason and evidence are required", allowFile, e.ID)
		}
		ids[e.ID] = true
	}
	return &al, nil
}

// match returns the id of the entry accepting d, "" if none does.
func (al *allowList) match(d Deviation) string {
	for _, e := range al.Entries {
		if e.Side != d.Side {
			continue
		}
		if p, ok := strings.CutSuffix(e.Operation, "*"); ok {
			if !strings.HasPrefix(d.Operation, p) {
				continue
			}
		} else if e.Operation != d.Operation {
			continue
		}
		if strings.Contains(d.Message, e.Contains) {
			return e.ID
		}
	}
	return ""
}
