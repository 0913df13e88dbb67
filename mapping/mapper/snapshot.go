package mapper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
)

// readAndLink reads the directory and links every user against what it
// read. A failed read is logged and counted (readErr), and users are
// linked against the previous snapshot; so are they when the new one is
// refused (it would drop too many people), in which case no link computed
// from it was written.
func (mp *Mapper) readAndLink(ctx context.Context) (res *mapping.Result, written int, readErr, err error) {
	us, fresh, readErr, err := mp.readAndLoad(ctx)
	if fresh != nil {
		// However the run ends, let the snapshot's store finish before the
		// lease (and its context) does: a store cut mid-way would leave
		// chunks no snapshot names.
		defer func() { <-fresh.done }()
	}
	if err != nil {
		return nil, 0, readErr, err
	}
	if fresh != nil {
		res, written, err = mp.link(ctx, us, fresh)
		if !errors.Is(err, errSnapshotNotStored) {
			return res, written, nil, err
		}
		readErr = err
	}
	res, written, err = mp.link(ctx, us, nil)
	return res, written, readErr, err
}

// readAndLoad reads the directory while the users load from Redis: the
// two are independent, and the read mostly waits on the server.
func (mp *Mapper) readAndLoad(ctx context.Context) (us *zoomUsers, fresh *freshSnapshot, readErr, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		us, err = mp.loadUsers(ctx)
	}()
	fresh, readErr = mp.readDirectory(ctx)
	<-done
	return us, fresh, readErr, err
}

// errSnapshotNotStored: the snapshot links were computed from was not
// stored (refused or failed), so none of them was written.
var errSnapshotNotStored = errors.New("directory snapshot not stored")

// freshSnapshot is a directory read being stored while links are computed
// from it: no link computed from it is written before wait says it was
// stored.
type freshSnapshot struct {
	snap *directory.Snapshot
	done chan struct{}
	meta mapstore.SnapshotMeta
	err  error
}

func (f *freshSnapshot) wait(ctx context.Context) (mapstore.SnapshotMeta, error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return mapstore.SnapshotMeta{}, ctx.Err()
	}
	if f.err != nil {
		return mapstore.SnapshotMeta{}, fmt.Errorf("%w: %w", errSnapshotNotStored, f.err)
	}
	return f.meta, nil
}

// readDirectory reads the directory and starts storing the snapshot,
// which is refused if the read looks wrong (the previous snapshot then
// stays in force). A failed read returns an error and no snapshot.
func (mp *Mapper) readDirectory(ctx context.Context) (*freshSnapshot, error) {
	start := mp.clock.Now()
	splits := mp.splits(ctx)
	snap, err := mp.dir.Read(ctx, attributes(mp.rules), splits)
	if err != nil {
		mp.obs.DirectoryRead("failed", 0)
		mp.log.Error("directory read failed: keeping the previous snapshot, no link changes", slog.String("error", err.Error()))
		return nil, err
	}
	read := mp.clock.Since(start)
	f := &freshSnapshot{snap: snap, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		meta, err := mapstore.SaveSnapshot(ctx, mp.rdb, snap, start, mp.maxDrop, mp.dir.SplitPoints(snap))
		if err != nil {
			mp.obs.DirectoryRead("refused", 0)
			mp.log.Error("directory snapshot refused: keeping the previous one, no link changes", slog.String("error", err.Error()))
			f.err = err
			return
		}
		mp.obs.DirectoryRead("ok", len(snap.Entries))
		mp.mu.Lock()
		mp.snap, mp.meta = snap, meta
		mp.mu.Unlock()
		mp.log.Info("directory snapshot stored", slog.Int("entries", len(snap.Entries)), slog.String("flavor", string(snap.Flavor)),
			slog.Int("split_at", len(splits)), slog.Duration("read", read), slog.Duration("duration", mp.clock.Since(start)))
		f.meta = meta
	}()
	return f, nil
}

// splits are where the previous read says this one can be cut.
func (mp *Mapper) splits(ctx context.Context) []string {
	mp.mu.Lock()
	meta := mp.meta
	mp.mu.Unlock()
	if meta.Generation == 0 {
		meta, _ = mapstore.LoadSnapshotMeta(ctx, mp.rdb) // none yet: one search
	}
	return meta.Splits
}

// snapshot returns the current snapshot: this process's, or the one
// another replica stored.
func (mp *Mapper) snapshot(ctx context.Context) (*directory.Snapshot, mapstore.SnapshotMeta, error) {
	stored, err := mapstore.LoadSnapshotMeta(ctx, mp.rdb)
	if err != nil {
		return nil, stored, err
	}
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if mp.snap != nil && mp.meta.Generation == stored.Generation {
		return mp.snap, mp.meta, nil
	}
	snap, meta, err := mapstore.LoadSnapshot(ctx, mp.rdb)
	if err != nil {
		return nil, meta, err
	}
	mp.snap, mp.meta = snap, meta
	return snap, meta, nil
}
