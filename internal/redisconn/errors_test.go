package redisconn

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// TestClassify: Redis's answers get their kinds from what Redis says,
// wherever they are wrapped; a stopped context stays what it is.
func TestClassify(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	rdb.Set(ctx, "zs:str", "v", 0)
	busy := rdb.XGroupCreateMkStream(ctx, "zs:s", "g", "0").Err()
	if busy == nil {
		busy = rdb.XGroupCreateMkStream(ctx, "zs:s", "g", "0").Err()
	}
	for _, tc := range []struct {
		name string
		err  error
		kind errs.Kind
	}{
		{"no such key", rdb.Get(ctx, "zs:none").Err(), errs.NotFound},
		{"NOSCRIPT", rdb.EvalSha(ctx, "0000000000000000000000000000000000000000", nil).Err(), errs.NotFound},
		{"NOGROUP", rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "none", Consumer: "c", Streams: []string{"zs:s", ">"}, Block: -1}).Err(), errs.NotFound},
		{"BUSYGROUP", busy, errs.Exists},
		{"wrapped BUSYGROUP", fmt.Errorf("creating: %w", busy), errs.Exists},
		{"WRONGTYPE", rdb.HGet(ctx, "zs:str", "f").Err(), errs.Unavailable},
		{"the network", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), errs.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("Redis answered no error")
			}
			if got := errs.KindOf(Classify("op", tc.err)); got != tc.kind {
				t.Fatalf("%v: kind %v, want %v", tc.err, got, tc.kind)
			}
		})
	}
	if Classify("op", nil) != nil {
		t.Fatal("nil classified")
	}
	if err := Classify("op", context.Canceled); err != context.Canceled {
		t.Fatalf("a cancelled context became %v", err)
	}
	if err := Classify("op", rdb.Get(ctx, "zs:none").Err()); !errors.Is(err, redis.Nil) {
		t.Fatalf("the cause left the chain: %v", err)
	}
}
