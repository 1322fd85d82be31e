package pgsync

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The reconnect rules and backoff defaults of WakeStream are the same in every pg-sync client
// (test/vectors/client-conformance.json).

// Backoff is exponential backoff with full jitter: attempt n waits a uniform random duration in
// [0, Cap(n)).
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
}

// DefaultBackoff starts at 200ms and caps at 10s, as in every pg-sync client.
var DefaultBackoff = Backoff{Initial: 200 * time.Millisecond, Max: 10 * time.Second, Multiplier: 2}

// Cap is the upper bound of the wait before attempt n (n >= 1): min(Max, Initial*Multiplier^(n-1)).
func (b Backoff) Cap(attempt int) time.Duration {
	limit := float64(b.Initial)
	for i := 1; i < attempt && limit < float64(b.Max); i++ {
		limit *= b.Multiplier
	}
	return time.Duration(min(limit, float64(b.Max)))
}

// Delay is the wait before attempt n (n >= 1).
func (b Backoff) Delay(attempt int) time.Duration {
	if limit := b.Cap(attempt); limit >= 1 {
		return time.Duration(rand.Int64N(int64(limit)))
	}
	return 0
}

// ShouldReconnect reports whether a WatchWakes stream that ended with err is resumed:
// UNAVAILABLE always; RESOURCE_EXHAUSTED when the error carries a resume token (a slow consumer,
// not a quota); INTERNAL or UNKNOWN only when the connection had delivered a frame (a broken
// stream; before a frame they are a real error). Everything else is returned to the caller.
func ShouldReconnect(err error, gotFrame, hasResumeToken bool) bool {
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	case codes.ResourceExhausted:
		return hasResumeToken
	case codes.Internal, codes.Unknown:
		return gotFrame
	}
	return false
}

// ParseOperation turns "insert", "update" or "delete" into an Operation.
func ParseOperation(name string) (pgsyncv1.Operation, error) {
	switch strings.ToLower(name) {
	case "insert":
		return pgsyncv1.Operation_OPERATION_INSERT, nil
	case "update":
		return pgsyncv1.Operation_OPERATION_UPDATE, nil
	case "delete":
		return pgsyncv1.Operation_OPERATION_DELETE, nil
	}
	return pgsyncv1.Operation_OPERATION_UNSPECIFIED, fmt.Errorf("pgsync: unknown operation %q (insert, update or delete)", name)
}

// invalidArgument is the INVALID_ARGUMENT status error of a request rejected locally.
func invalidArgument(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "pgsync: WatchWakes: "+format, args...)
}

const seenIDsPerSource = 10_000

// seenWakes remembers, per source, the wake ids and the highest seq returned, to skip
// re-delivered wakes. A source is forgotten when its seqs restart (reset or deletion).
type seenWakes struct {
	ids   map[string]map[string]struct{}
	order map[string][]string
	high  map[string]int64
}

func newSeenWakes() *seenWakes {
	return &seenWakes{ids: map[string]map[string]struct{}{}, order: map[string][]string{}, high: map[string]int64{}}
}

func (s *seenWakes) forget(ref string) {
	delete(s.ids, ref)
	delete(s.order, ref)
	delete(s.high, ref)
}

// isNew records w and reports whether it was not returned before.
func (s *seenWakes) isNew(w *pgsyncv1.Wake) bool {
	ref := w.GetSourceRef()
	ids := s.ids[ref]
	if ids == nil {
		ids = map[string]struct{}{}
		s.ids[ref] = ids
	}
	if _, dup := ids[w.GetWakeId()]; dup {
		return false
	}
	if high, ok := s.high[ref]; ok && w.GetLastSeq() <= high {
		return false
	}
	ids[w.GetWakeId()] = struct{}{}
	s.order[ref] = append(s.order[ref], w.GetWakeId())
	if len(s.order[ref]) > seenIDsPerSource {
		delete(ids, s.order[ref][0])
		s.order[ref] = s.order[ref][1:]
	}
	s.high[ref] = max(s.high[ref], w.GetLastSeq())
	return true
}
