package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	s := New("hunter2")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "s", s)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "s", s)
	js, _ := json.Marshal(struct{ S Secret }{s})
	txt, _ := s.MarshalText()
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), logs.String(), string(js), string(txt)} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("leaked: %s", out)
		}
	}
	if s.Reveal() != "hunter2" || s.IsZero() || New("").String() != "" {
		t.Fatal("Reveal/IsZero/empty broken")
	}
	var back struct{ S Secret }
	if err := json.Unmarshal([]byte(`{"S":"from-file"}`), &back); err != nil || back.S.Reveal() != "from-file" {
		t.Fatalf("unmarshal: %v %q", err, back.S.Reveal())
	}
	var fromEnv Secret
	_ = fromEnv.UnmarshalText([]byte("env"))
	if fromEnv.Reveal() != "env" {
		t.Fatal("UnmarshalText")
	}
}
