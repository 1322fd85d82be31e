package pgsync

import (
	"math"
	"time"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
)

// Operation names, as WatchOptions.Ops takes them and OperationName returns them.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Start positions of WatchOptions.Start.
const (
	StartNow      = "now"
	StartEarliest = "earliest"
)

// WatchOptions says what WatchWakes watches and how the stream reconnects. Like SourceOptions,
// it is a plain struct: the zero value of every field but SourceRefs is the default.
type WatchOptions struct {
	// SourceRefs are the sources to watch (at least one, none empty).
	SourceRefs []string
	// Ops are the operations that wake: OpInsert, OpUpdate, OpDelete. Empty means all.
	Ops []string
	// Debounce is the trailing debounce: a wake is sent once no change arrived for this long.
	// Whole milliseconds, up to math.MaxUint32 ms. Zero: one wake per committed batch.
	Debounce time.Duration
	// MaxWait caps how long Debounce can delay a wake (whole milliseconds). Zero: no cap.
	MaxWait time.Duration
	// MaxChangesPerWake splits larger wakes (0 to math.MaxUint32). Zero: the server's limit.
	MaxChangesPerWake int64
	// HeartbeatInterval asks the server for heartbeats this often (whole milliseconds). Zero:
	// the server's default.
	HeartbeatInterval time.Duration
	// Start is StartNow (the default, also "") or StartEarliest (the oldest retained change).
	Start string
	// ResumeToken resumes after a token from an earlier stream; it overrides Start.
	ResumeToken string

	// Backoff sets the reconnect delays. The zero value means DefaultBackoff.
	Backoff Backoff
	// MaxAttempts makes Next fail after this many consecutive failed attempts. Zero: retry forever.
	MaxAttempts int
	// Heartbeats makes Next return Heartbeat events too (they always move the resume token).
	Heartbeats bool
}

// OperationName is the lower-case name of an operation ("insert", "update", "delete"), or ""
// for OPERATION_UNSPECIFIED and unknown values.
func OperationName(op pgsyncv1.Operation) string {
	switch op {
	case pgsyncv1.Operation_OPERATION_INSERT:
		return OpInsert
	case pgsyncv1.Operation_OPERATION_UPDATE:
		return OpUpdate
	case pgsyncv1.Operation_OPERATION_DELETE:
		return OpDelete
	}
	return ""
}

// millis converts a whole-millisecond duration to the wire's uint32, naming the field when it
// cannot.
func millis(field string, d time.Duration) (uint32, error) {
	if d < 0 || d%time.Millisecond != 0 || d/time.Millisecond > math.MaxUint32 {
		return 0, invalidArgument("%s must be a whole number of milliseconds from 0 to %d ms, got %v", field, uint32(math.MaxUint32), d)
	}
	return uint32(d / time.Millisecond), nil
}

// request checks the options before any call and builds the first request; an error is an
// INVALID_ARGUMENT status naming the field (SourceRefs[1], Ops[0], Debounce, Start...).
func (o WatchOptions) request() (*pgsyncv1.WatchWakesRequest, error) {
	if len(o.SourceRefs) == 0 {
		return nil, invalidArgument("SourceRefs must name at least one source")
	}
	for i, ref := range o.SourceRefs {
		if ref == "" {
			return nil, invalidArgument("SourceRefs[%d] must not be empty", i)
		}
	}
	req := &pgsyncv1.WatchWakesRequest{SourceRefs: append([]string(nil), o.SourceRefs...)}
	for i, name := range o.Ops {
		op, err := ParseOperation(name)
		if err != nil {
			return nil, invalidArgument("Ops[%d] must be insert, update or delete, got %q", i, name)
		}
		req.Ops = append(req.Ops, op)
	}
	var err error
	if req.DebounceMs, err = millis("Debounce", o.Debounce); err != nil {
		return nil, err
	}
	if req.MaxWaitMs, err = millis("MaxWait", o.MaxWait); err != nil {
		return nil, err
	}
	if req.HeartbeatIntervalMs, err = millis("HeartbeatInterval", o.HeartbeatInterval); err != nil {
		return nil, err
	}
	if o.MaxChangesPerWake < 0 || o.MaxChangesPerWake > math.MaxUint32 {
		return nil, invalidArgument("MaxChangesPerWake must be from 0 to %d, got %d", uint32(math.MaxUint32), o.MaxChangesPerWake)
	}
	req.MaxChangesPerWake = uint32(o.MaxChangesPerWake)
	if o.MaxAttempts < 0 {
		return nil, invalidArgument("MaxAttempts must not be negative, got %d", o.MaxAttempts)
	}
	switch {
	case o.ResumeToken != "":
		req.Start = &pgsyncv1.WatchWakesRequest_ResumeToken{ResumeToken: o.ResumeToken}
	case o.Start == StartEarliest:
		req.Start = &pgsyncv1.WatchWakesRequest_StartPosition{StartPosition: pgsyncv1.StartPosition_START_POSITION_EARLIEST}
	case o.Start == StartNow || o.Start == "":
		req.Start = &pgsyncv1.WatchWakesRequest_StartPosition{StartPosition: pgsyncv1.StartPosition_START_POSITION_NOW}
	default:
		return nil, invalidArgument("Start must be %q or %q (or set ResumeToken), got %q", StartNow, StartEarliest, o.Start)
	}
	return req, nil
}

func (o WatchOptions) backoff() Backoff {
	if o.Backoff == (Backoff{}) {
		return DefaultBackoff
	}
	return o.Backoff
}
