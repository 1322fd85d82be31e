package pgsync

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// maxSettleIDs is the most delivery ids one AckWakes or NackWakes call takes.
const maxSettleIDs = 1000

// Delivery is one wake (or gap) handed to this member of a consumer group: handle it, then Ack
// it, or Nack it to give it back. Exactly one of Wake and Gap is set.
type Delivery struct {
	// ID acknowledges or nacks this attempt.
	ID string
	// Attempt is 1 for the first delivery, +1 for each redelivery.
	Attempt uint32
	// AckDeadline: unless acknowledged or nacked by then, the delivery goes back to the group.
	AckDeadline time.Time
	// Wake is the wake, as WatchWakes would send it (nil for a gap).
	Wake *pgsyncv1.Wake
	// Gap says changes in a range may be missing (nil for a wake).
	Gap *pgsyncv1.Gap

	consumer *GroupConsumer
}

// Ack acknowledges the delivery (durably: it is never delivered again) and returns what the
// server did: ACKNOWLEDGED, or ALREADY_ACKNOWLEDGED, STALE (this attempt expired and went to
// another member) or UNKNOWN. The error is the call's (e.g. UNAVAILABLE), never the id's.
func (d *Delivery) Ack(ctx context.Context) (pgsyncv1.SettleStatus, error) {
	res, err := d.consumer.Ack(ctx, d.ID)
	return res[d.ID], err
}

// Nack gives the delivery back: it is delivered again (Attempt+1, to any member) no sooner than
// retryAfter, or dead-lettered when this was its last allowed attempt (DEAD_LETTERED).
func (d *Delivery) Nack(ctx context.Context, retryAfter time.Duration) (pgsyncv1.SettleStatus, error) {
	return d.NackError(ctx, retryAfter, "")
}

// NackError is Nack recording reason as the delivery's last error (listed with dead letters).
func (d *Delivery) NackError(ctx context.Context, retryAfter time.Duration, reason string) (pgsyncv1.SettleStatus, error) {
	res, err := d.consumer.Nack(ctx, retryAfter, reason, d.ID)
	return res[d.ID], err
}

// ConsumeOption configures ConsumeWakes.
type ConsumeOption func(*GroupConsumer)

// WithConsumeBackoff sets the reconnect backoff (default DefaultBackoff).
func WithConsumeBackoff(b Backoff) ConsumeOption { return func(g *GroupConsumer) { g.backoff = b } }

// WithConsumeMaxAttempts makes Next fail after n consecutive failed attempts (0: retry forever).
func WithConsumeMaxAttempts(n int) ConsumeOption {
	return func(g *GroupConsumer) { g.maxAttempts = n }
}

type consumeResult struct {
	msg *pgsyncv1.ConsumeWakesResponse
	err error
}

// GroupConsumer is one member of a consumer group: a ConsumeWakes stream that reconnects. The
// server keeps every position and delivery, so a reconnect loses nothing: what this member did
// not acknowledge is delivered again (to it or another member) with Attempt+1. Next returns
// deliveries; UNAVAILABLE, UNKNOWN, INTERNAL and ABORTED reconnect after a full-jitter backoff,
// other errors (NOT_FOUND: group deleted or unknown source; FAILED_PRECONDITION: settings differ
// from the group's; INVALID_ARGUMENT) are returned. Close leaves the group, and the deliveries
// still held go back to it at once. Next is not safe for concurrent use; Ack and Nack are.
type GroupConsumer struct {
	client      *Client
	ctx         context.Context
	cancel      context.CancelFunc
	req         *pgsyncv1.ConsumeWakesRequest
	backoff     Backoff
	maxAttempts int
	invalid     error

	cur      chan consumeResult
	stop     context.CancelFunc
	failures int

	mu       sync.Mutex
	memberID string
	settings *pgsyncv1.ConsumerGroupSettings
}

// ConsumeWakes joins the consumer group req.Group (created on first use with req's settings)
// for req.SourceRefs. The member lives until ctx is done or Close is called.
func (c *Client) ConsumeWakes(ctx context.Context, req *pgsyncv1.ConsumeWakesRequest, opts ...ConsumeOption) *GroupConsumer {
	gctx, cancel := context.WithCancel(ctx)
	g := &GroupConsumer{
		client: c, ctx: gctx, cancel: cancel, req: proto.Clone(req).(*pgsyncv1.ConsumeWakesRequest),
		backoff: DefaultBackoff, invalid: validateConsumeRequest(req),
	}
	for _, o := range opts {
		o(g)
	}
	return g
}

// validateConsumeRequest checks a request before any call; the error names the field.
func validateConsumeRequest(req *pgsyncv1.ConsumeWakesRequest) error {
	bad := func(format string, args ...any) error {
		return status.Errorf(codes.InvalidArgument, "pgsync: ConsumeWakes: "+format, args...)
	}
	if req.GetGroup() == "" {
		return bad("group must not be empty")
	}
	if len(req.GetSourceRefs()) == 0 {
		return bad("source_refs must name at least one source")
	}
	for i, ref := range req.GetSourceRefs() {
		if ref == "" {
			return bad("source_refs[%d] must not be empty", i)
		}
	}
	if _, ok := pgsyncv1.Ordering_name[int32(req.GetOrdering())]; !ok {
		return bad("ordering must be source, key or none, got %d", req.GetOrdering())
	}
	return nil
}

// MemberID is this stream's member id, from the latest ConsumeReady ("" before it joined).
func (g *GroupConsumer) MemberID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.memberID
}

// Settings are the group's settings in force, from the latest ConsumeReady (nil before).
func (g *GroupConsumer) Settings() *pgsyncv1.ConsumerGroupSettings {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.settings
}

// Close leaves the group; a pending or later Next returns an error.
func (g *GroupConsumer) Close() { g.cancel() }

// Ack acknowledges deliveries by id in one call (1 to 1,000), returning each id's status.
func (g *GroupConsumer) Ack(ctx context.Context, ids ...string) (map[string]pgsyncv1.SettleStatus, error) {
	if err := checkSettleIDs("AckWakes", ids); err != nil {
		return nil, err
	}
	res, err := g.client.rpc.AckWakes(ctx, &pgsyncv1.AckWakesRequest{Group: g.req.GetGroup(), DeliveryIds: ids})
	return settleMap(res.GetResults()), err
}

// Nack gives deliveries back by id in one call, not delivered again before retryAfter (whole
// milliseconds, at most one day); reason is recorded as their last error.
func (g *GroupConsumer) Nack(ctx context.Context, retryAfter time.Duration, reason string, ids ...string) (map[string]pgsyncv1.SettleStatus, error) {
	if err := checkSettleIDs("NackWakes", ids); err != nil {
		return nil, err
	}
	if retryAfter < 0 || retryAfter > 24*time.Hour {
		return nil, status.Errorf(codes.InvalidArgument, "pgsync: NackWakes: retry_after must be from 0 to 24h, got %v", retryAfter)
	}
	res, err := g.client.rpc.NackWakes(ctx, &pgsyncv1.NackWakesRequest{
		Group: g.req.GetGroup(), DeliveryIds: ids, RetryAfterMs: uint32(retryAfter.Milliseconds()), Error: reason,
	})
	return settleMap(res.GetResults()), err
}

func checkSettleIDs(rpc string, ids []string) error {
	if len(ids) == 0 || len(ids) > maxSettleIDs {
		return status.Errorf(codes.InvalidArgument, "pgsync: %s: delivery_ids must hold 1 to %d ids, got %d", rpc, maxSettleIDs, len(ids))
	}
	for i, id := range ids {
		if id == "" {
			return status.Errorf(codes.InvalidArgument, "pgsync: %s: delivery_ids[%d] must not be empty", rpc, i)
		}
	}
	return nil
}

func settleMap(results []*pgsyncv1.SettleResult) map[string]pgsyncv1.SettleStatus {
	out := make(map[string]pgsyncv1.SettleStatus, len(results))
	for _, r := range results {
		out[r.GetDeliveryId()] = r.GetStatus()
	}
	return out
}

// connect opens a stream whose frames (then its final error) arrive on g.cur.
func (g *GroupConsumer) connect() {
	cctx, cancel := context.WithCancel(g.ctx)
	ch := make(chan consumeResult)
	g.cur, g.stop = ch, cancel
	go func() {
		stream, err := g.client.rpc.ConsumeWakes(cctx, g.req)
		for err == nil {
			var msg *pgsyncv1.ConsumeWakesResponse
			if msg, err = stream.Recv(); err == nil {
				select {
				case ch <- consumeResult{msg: msg}:
					continue
				case <-cctx.Done():
					return
				}
			}
		}
		select {
		case ch <- consumeResult{err: err}:
		case <-cctx.Done():
		}
	}()
}

// delivery turns a frame into a Delivery (nil for ready and heartbeat frames).
func (g *GroupConsumer) delivery(msg *pgsyncv1.ConsumeWakesResponse) *Delivery {
	switch ev := msg.GetEvent().(type) {
	case *pgsyncv1.ConsumeWakesResponse_Ready:
		g.mu.Lock()
		g.memberID, g.settings = ev.Ready.GetMemberId(), ev.Ready.GetSettings()
		g.mu.Unlock()
	case *pgsyncv1.ConsumeWakesResponse_Delivery:
		d := ev.Delivery
		return &Delivery{ID: d.GetDeliveryId(), Attempt: d.GetAttempt(), AckDeadline: d.GetAckDeadline().AsTime(), Wake: d.GetWake(), consumer: g}
	case *pgsyncv1.ConsumeWakesResponse_Gap:
		d := ev.Gap
		return &Delivery{ID: d.GetDeliveryId(), Attempt: d.GetAttempt(), AckDeadline: d.GetAckDeadline().AsTime(), Gap: d.GetGap(), consumer: g}
	}
	return nil
}

// Next returns the next delivery. ctx bounds this call only (a frame that arrives later is kept
// for the next call); io.EOF means the server ended the stream normally.
func (g *GroupConsumer) Next(ctx context.Context) (*Delivery, error) {
	for {
		if g.invalid != nil {
			return nil, g.invalid
		}
		if err := g.ctx.Err(); err != nil {
			return nil, err
		}
		if g.cur == nil {
			g.connect()
		}
		var r consumeResult
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-g.ctx.Done():
			return nil, g.ctx.Err()
		case r = <-g.cur:
		}
		if r.err == nil {
			g.failures = 0
			if d := g.delivery(r.msg); d != nil {
				return d, nil
			}
			continue
		}
		g.stop()
		g.cur = nil
		if errors.Is(r.err, io.EOF) {
			return nil, io.EOF
		}
		if err := g.retry(ctx, r.err); err != nil {
			return nil, err
		}
	}
}

// retry waits the backoff after a failed stream, or returns the error that ends Next.
func (g *GroupConsumer) retry(ctx context.Context, err error) error {
	if g.ctx.Err() != nil {
		return g.ctx.Err()
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Unknown, codes.Internal, codes.Aborted:
	default:
		return err
	}
	g.failures++
	if g.maxAttempts > 0 && g.failures >= g.maxAttempts {
		return err
	}
	timer := time.NewTimer(g.backoff.Delay(g.failures))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-g.ctx.Done():
		return g.ctx.Err()
	case <-timer.C:
		return nil
	}
}

// GetConsumerGroup returns the group's state (settings, per-source positions, members) and up
// to deadLetterLimit dead letters (0: 100). Redrive a dead letter with Nack on its DeliveryId,
// discard it with Ack.
func (c *Client) GetConsumerGroup(ctx context.Context, group string, deadLetterLimit uint32) (*pgsyncv1.GetConsumerGroupResponse, error) {
	return c.rpc.GetConsumerGroup(ctx, &pgsyncv1.GetConsumerGroupRequest{Group: group, DeadLetterLimit: deadLetterLimit})
}

// DeleteConsumerGroup deletes the group with all its state; its members' streams end with NOT_FOUND.
func (c *Client) DeleteConsumerGroup(ctx context.Context, group string) error {
	_, err := c.rpc.DeleteConsumerGroup(ctx, &pgsyncv1.DeleteConsumerGroupRequest{Group: group})
	return err
}
