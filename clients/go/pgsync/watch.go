package pgsync

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// ResumeTokenTrailer is the trailer that carries the resume token when a stream ends with an error.
const ResumeTokenTrailer = "pgsync-resume-token"

// EventKind says which frame an Event carries.
type EventKind int

// Event kinds.
const (
	EventReady EventKind = iota + 1
	EventWake
	EventGap
	EventStatus
	EventHeartbeat
)

func (k EventKind) String() string {
	return map[EventKind]string{EventReady: "ready", EventWake: "wake", EventGap: "gap", EventStatus: "status", EventHeartbeat: "heartbeat"}[k]
}

// Event is one frame of a WakeStream; exactly the field named by Kind is set.
type Event struct {
	Kind      EventKind
	Ready     *pgsyncv1.Ready
	Wake      *pgsyncv1.Wake
	Gap       *pgsyncv1.Gap
	Status    *pgsyncv1.SourceStatus
	Heartbeat *pgsyncv1.Heartbeat
}

type recvResult struct {
	msg     *pgsyncv1.WatchWakesResponse
	err     error
	trailer metadata.MD
}

type connection struct {
	gotFrame bool
	cancel   context.CancelFunc
	ch       chan recvResult
}

// WakeStream is a WatchWakes stream that survives reconnects. Next returns Ready (again after
// every reconnect), Wake, Gap and SourceStatus events (Heartbeats with WatchOptions.Heartbeats). When the
// stream ends with an error ShouldReconnect accepts (UNAVAILABLE; RESOURCE_EXHAUSTED with a
// resume token; INTERNAL/UNKNOWN after this connection delivered a frame) it reconnects with
// backoff from the last resume token (or the pgsync-resume-token trailer when no frame carried
// one). Options that WatchOptions rejects make Next return INVALID_ARGUMENT naming the field,
// before any call. A wake whose id was already
// returned, or whose seq range is already covered, is skipped, so no wake id is returned twice
// (the memory of a source is cleared on a SOURCE_RESET gap or its deletion, as seqs restart).
// Next returns io.EOF when the server ends the stream normally. Not safe for concurrent Next.
type WakeStream struct {
	client      *Client
	ctx         context.Context
	cancel      context.CancelFunc
	req         *pgsyncv1.WatchWakesRequest
	backoff     Backoff
	maxAttempts int
	heartbeats  bool

	mu         sync.Mutex
	token      string
	reconnects int
	cur        *connection
	failures   int
	seen       *seenWakes
	invalid    error // a request rejected locally, returned by Next
}

// WatchWakes opens a resumable watch of opts.SourceRefs (see WatchOptions for the operations,
// debounce, start position and reconnect settings). Nothing is sent until the first Next, which
// returns an INVALID_ARGUMENT status naming the field when the options are bad. The stream lives
// until ctx is done or Close is called.
func (c *Client) WatchWakes(ctx context.Context, opts WatchOptions) *WakeStream {
	sctx, cancel := context.WithCancel(ctx)
	req, invalid := opts.request()
	s := &WakeStream{
		client: c, ctx: sctx, cancel: cancel, req: req,
		backoff: opts.backoff(), maxAttempts: opts.MaxAttempts, heartbeats: opts.Heartbeats,
		token: opts.ResumeToken, seen: newSeenWakes(), invalid: invalid,
	}
	return s
}

// ResumeToken is the token of the last frame received: a new stream started with it loses nothing.
func (s *WakeStream) ResumeToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Reconnects is the number of reconnects so far.
func (s *WakeStream) Reconnects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconnects
}

// Close ends the stream; a pending or later Next returns an error.
func (s *WakeStream) Close() { s.cancel() }

func (s *WakeStream) connect() {
	req := proto.Clone(s.req).(*pgsyncv1.WatchWakesRequest)
	if tok := s.ResumeToken(); tok != "" {
		req.Start = &pgsyncv1.WatchWakesRequest_ResumeToken{ResumeToken: tok}
	}
	cctx, cancel := context.WithCancel(s.ctx)
	conn := &connection{cancel: cancel, ch: make(chan recvResult)}
	s.cur = conn
	go func() {
		var trailer metadata.MD
		stream, err := s.client.rpc.WatchWakes(cctx, req, grpc.Trailer(&trailer))
		for err == nil {
			var msg *pgsyncv1.WatchWakesResponse
			msg, err = stream.Recv()
			if err == nil {
				select {
				case conn.ch <- recvResult{msg: msg}:
					continue
				case <-cctx.Done():
					return
				}
			}
		}
		select {
		case conn.ch <- recvResult{err: err, trailer: trailer}:
		case <-cctx.Done():
		}
	}()
}

func (s *WakeStream) setToken(t string) {
	if t != "" {
		s.mu.Lock()
		s.token = t
		s.mu.Unlock()
	}
}

// handle turns a frame into an event; ok is false for frames not returned to the caller.
func (s *WakeStream) handle(msg *pgsyncv1.WatchWakesResponse) (Event, bool) {
	switch ev := msg.GetEvent().(type) {
	case *pgsyncv1.WatchWakesResponse_Wake:
		s.setToken(ev.Wake.GetResumeToken())
		return Event{Kind: EventWake, Wake: ev.Wake}, s.seen.isNew(ev.Wake)
	case *pgsyncv1.WatchWakesResponse_Ready:
		s.setToken(ev.Ready.GetResumeToken())
		return Event{Kind: EventReady, Ready: ev.Ready}, true
	case *pgsyncv1.WatchWakesResponse_Gap:
		s.setToken(ev.Gap.GetResumeToken())
		if ev.Gap.GetReason() == pgsyncv1.GapReason_GAP_REASON_SOURCE_RESET {
			s.seen.forget(ev.Gap.GetSourceRef())
		}
		return Event{Kind: EventGap, Gap: ev.Gap}, true
	case *pgsyncv1.WatchWakesResponse_Status:
		s.setToken(ev.Status.GetResumeToken())
		if ev.Status.GetDeleted() {
			s.seen.forget(ev.Status.GetSourceRef())
		}
		return Event{Kind: EventStatus, Status: ev.Status}, true
	case *pgsyncv1.WatchWakesResponse_Heartbeat:
		s.setToken(ev.Heartbeat.GetResumeToken())
		return Event{Kind: EventHeartbeat, Heartbeat: ev.Heartbeat}, s.heartbeats
	}
	return Event{}, false
}

// Next returns the next event. ctx bounds this call only (a frame that arrives later is kept
// for the next call); a non-retryable error, io.EOF or the stream's own end are returned as is.
func (s *WakeStream) Next(ctx context.Context) (Event, error) {
	for {
		if err := s.ctx.Err(); err != nil {
			return Event{}, err
		}
		if s.invalid != nil {
			return Event{}, s.invalid
		}
		if s.cur == nil {
			s.connect()
		}
		var r recvResult
		select {
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-s.ctx.Done():
			return Event{}, s.ctx.Err()
		case r = <-s.cur.ch:
		}
		if r.err == nil {
			s.failures = 0
			s.cur.gotFrame = true
			if ev, ok := s.handle(r.msg); ok {
				return ev, nil
			}
			continue
		}
		midStream := s.cur.gotFrame
		s.cur.cancel()
		s.cur = nil
		if errors.Is(r.err, io.EOF) {
			return Event{}, io.EOF
		}
		if s.ctx.Err() != nil {
			return Event{}, s.ctx.Err()
		}
		trailerToken := ""
		if v := r.trailer.Get(ResumeTokenTrailer); len(v) > 0 {
			trailerToken = v[0]
		}
		if !ShouldReconnect(r.err, midStream, trailerToken != "") {
			return Event{}, r.err
		}
		if s.ResumeToken() == "" {
			s.setToken(trailerToken)
		}
		s.failures++
		if s.maxAttempts > 0 && s.failures >= s.maxAttempts {
			return Event{}, r.err
		}
		s.mu.Lock()
		s.reconnects++
		s.mu.Unlock()
		timer := time.NewTimer(s.backoff.Delay(s.failures))
		select {
		case <-ctx.Done():
			timer.Stop()
			return Event{}, ctx.Err()
		case <-s.ctx.Done():
			timer.Stop()
			return Event{}, s.ctx.Err()
		case <-timer.C:
		}
	}
}
