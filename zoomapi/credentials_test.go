package zoomapi

import (
	"context"
	"testing"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
)

func TestSetCredentialsChecksWhatItIsGiven(t *testing.T) {
	c, err := NewClient(Credentials{AccountID: "A", ClientID: "c", ClientSecret: secret.New("s")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		creds Credentials
		kind  errs.Kind // 0: accepted
	}{
		{"another account's", Credentials{AccountID: "B", ClientID: "c", ClientSecret: secret.New("s2")}, errs.Invalid},
		{"no secret", Credentials{AccountID: "A", ClientID: "c"}, errs.Invalid},
		{"no client id", Credentials{AccountID: "A", ClientSecret: secret.New("s2")}, errs.Invalid},
		{"new secret", Credentials{AccountID: "A", ClientID: "c", ClientSecret: secret.New("s2")}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := c.SetCredentials(context.Background(), tt.creds)
			if tt.kind == 0 && err != nil || tt.kind != 0 && errs.KindOf(err) != tt.kind {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
			if err == nil && c.tokens.creds != tt.creds {
				t.Fatalf("credentials not replaced")
			}
		})
	}
}
