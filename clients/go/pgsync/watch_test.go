package pgsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const fakeRef = "61b724fea24ae3c5"

var fastBackoff = Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2}

type script func(n int, req *pgsyncv1.WatchWakesRequest, stream grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error

type fakeServer struct {
	pgsyncv1.UnimplementedPgSyncServiceServer
	script script
	mu     sync.Mutex
	reqs   []*pgsyncv1.WatchWakesRequest
	auth   []string
}

func (f *fakeServer) WatchWakes(req *pgsyncv1.WatchWakesRequest, stream grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.auth = append(f.auth, md.Get("authorization")...)
	n := len(f.reqs)
	f.mu.Unlock()
	return f.script(n, req, stream)
}

func (f *fakeServer) GetSource(context.Context, *pgsyncv1.GetSourceRequest) (*pgsyncv1.GetSourceResponse, error) {
	st, _ := status.New(codes.NotFound, "no such source").WithDetails(&errdetails.ErrorInfo{Reason: "SOURCE_NOT_FOUND", Domain: "pgsync.dev"})
	return nil, st.Err()
}

func startFake(t *testing.T, s script) (*fakeServer, *Client) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fake := &fakeServer{script: s}
	pgsyncv1.RegisterPgSyncServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	client, err := New("http://"+lis.Addr().String(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); srv.Stop() })
	return fake, client
}

func wakeFrame(first, last int64, token string) *pgsyncv1.WatchWakesResponse {
	return &pgsyncv1.WatchWakesResponse{Event: &pgsyncv1.WatchWakesResponse_Wake{Wake: &pgsyncv1.Wake{
		WakeId: fmt.Sprintf("%s-%d-%d", fakeRef, first, last), SourceRef: fakeRef, FirstSeq: first, LastSeq: last, ResumeToken: token,
	}}}
}

func readyFrame(token string) *pgsyncv1.WatchWakesResponse {
	return &pgsyncv1.WatchWakesResponse{Event: &pgsyncv1.WatchWakesResponse_Ready{Ready: &pgsyncv1.Ready{ResumeToken: token}}}
}

func drain(t *testing.T, s *WakeStream) ([]string, error) {
	t.Helper()
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			return got, err
		}
		if ev.Kind == EventWake {
			got = append(got, "wake:"+ev.Wake.GetWakeId())
		} else {
			got = append(got, ev.Kind.String())
		}
	}
}

func TestWatchResumesWithoutDuplicates(t *testing.T) {
	fake, client := startFake(t, func(n int, req *pgsyncv1.WatchWakesRequest, stream grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error {
		switch n {
		case 1:
			_ = stream.Send(readyFrame("r0"))
			_ = stream.Send(wakeFrame(1, 1, "t1"))
			_ = stream.Send(wakeFrame(2, 3, "t3"))
			stream.SetTrailer(metadata.Pairs(ResumeTokenTrailer, "t3"))
			return status.Error(codes.Unavailable, "server shutting down")
		case 2:
			_ = stream.Send(readyFrame("r1"))
			_ = stream.Send(wakeFrame(2, 3, "t3"))
			_ = stream.Send(wakeFrame(3, 3, "t3b"))
			_ = stream.Send(wakeFrame(4, 4, "t4"))
		}
		return nil
	})
	s := client.WatchWakes(context.Background(), WatchOptions{
		SourceRefs: []string{fakeRef}, Debounce: 5 * time.Millisecond, Ops: []string{OpInsert}, Backoff: fastBackoff,
	})
	got, err := drain(t, s)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
	want := []string{"ready", "wake:" + fakeRef + "-1-1", "wake:" + fakeRef + "-2-3", "ready", "wake:" + fakeRef + "-4-4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if s.Reconnects() != 1 || s.ResumeToken() != "t4" {
		t.Fatalf("reconnects %d token %q", s.Reconnects(), s.ResumeToken())
	}
	if fake.reqs[0].GetResumeToken() != "" || fake.reqs[1].GetResumeToken() != "t3" || fake.reqs[1].GetDebounceMs() != 5 {
		t.Fatalf("requests %v", fake.reqs)
	}
	if fmt.Sprint(fake.auth) != "[Bearer tok Bearer tok]" {
		t.Fatalf("auth %v", fake.auth)
	}
}

func TestWatchUsesTrailerTokenWhenNoFrameCarriedOne(t *testing.T) {
	fake, client := startFake(t, func(n int, req *pgsyncv1.WatchWakesRequest, stream grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error {
		if n == 1 {
			stream.SetTrailer(metadata.Pairs(ResumeTokenTrailer, "from-trailer"))
			return status.Error(codes.ResourceExhausted, "consumer too slow")
		}
		return stream.Send(readyFrame("r1"))
	})
	got, err := drain(t, client.WatchWakes(context.Background(), WatchOptions{SourceRefs: []string{fakeRef}, Backoff: fastBackoff}))
	if !errors.Is(err, io.EOF) || fmt.Sprint(got) != "[ready]" {
		t.Fatalf("got %v %v", got, err)
	}
	if fake.reqs[1].GetResumeToken() != "from-trailer" {
		t.Fatalf("second request %v", fake.reqs[1])
	}
}

func TestWatchSourceResetClearsDedup(t *testing.T) {
	_, client := startFake(t, func(n int, req *pgsyncv1.WatchWakesRequest, stream grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error {
		_ = stream.Send(wakeFrame(1, 1, "a"))
		_ = stream.Send(&pgsyncv1.WatchWakesResponse{Event: &pgsyncv1.WatchWakesResponse_Gap{Gap: &pgsyncv1.Gap{
			SourceRef: fakeRef, Reason: pgsyncv1.GapReason_GAP_REASON_SOURCE_RESET, ResumeToken: "g"}}})
		_ = stream.Send(&pgsyncv1.WatchWakesResponse{Event: &pgsyncv1.WatchWakesResponse_Heartbeat{Heartbeat: &pgsyncv1.Heartbeat{ResumeToken: "h"}}})
		return stream.Send(wakeFrame(1, 1, "b"))
	})
	s := client.WatchWakes(context.Background(), WatchOptions{SourceRefs: []string{fakeRef}})
	got, err := drain(t, s)
	if !errors.Is(err, io.EOF) || fmt.Sprint(got) != fmt.Sprint([]string{"wake:" + fakeRef + "-1-1", "gap", "wake:" + fakeRef + "-1-1"}) {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestWatchNonRetryableAndMaxAttempts(t *testing.T) {
	fake, client := startFake(t, func(n int, req *pgsyncv1.WatchWakesRequest, stream grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error {
		if req.GetDebounceMs() == 1 {
			return status.Error(codes.NotFound, "unknown source")
		}
		return status.Error(codes.Unavailable, "down")
	})
	_, err := drain(t, client.WatchWakes(context.Background(), WatchOptions{SourceRefs: []string{fakeRef}, Debounce: time.Millisecond}))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("err %v", err)
	}
	s := client.WatchWakes(context.Background(), WatchOptions{SourceRefs: []string{fakeRef}, Backoff: fastBackoff, MaxAttempts: 3})
	_, err = drain(t, s)
	if status.Code(err) != codes.Unavailable || len(fake.reqs) != 4 || s.Reconnects() != 2 {
		t.Fatalf("err %v requests %d reconnects %d", err, len(fake.reqs), s.Reconnects())
	}
	_, err = client.GetSource(context.Background(), fakeRef)
	if status.Code(err) != codes.NotFound || Reason(err) != "SOURCE_NOT_FOUND" {
		t.Fatalf("GetSource err %v reason %q", err, Reason(err))
	}
}

func TestWatchNextDeadlineKeepsFrameAndCloseEnds(t *testing.T) {
	release := make(chan struct{})
	_, client := startFake(t, func(n int, req *pgsyncv1.WatchWakesRequest, stream grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error {
		<-release
		_ = stream.Send(readyFrame("r"))
		<-stream.Context().Done()
		return nil
	})
	s := client.WatchWakes(context.Background(), WatchOptions{SourceRefs: []string{fakeRef}})
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline, got %v", err)
	}
	close(release)
	ev, err := s.Next(context.Background())
	if err != nil || ev.Kind != EventReady || s.ResumeToken() != "r" {
		t.Fatalf("ev %v err %v", ev.Kind, err)
	}
	go func() { time.Sleep(20 * time.Millisecond); s.Close() }()
	if _, err := s.Next(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("after close: %v", err)
	}
}

func TestTargetAndBackoff(t *testing.T) {
	for in, want := range map[string]string{"http://127.0.0.1:5000": "127.0.0.1:5000", "https://example.com": "example.com:443", "localhost:7": "localhost:7"} {
		if got, _, err := Target(in); err != nil || got != want {
			t.Errorf("Target(%q) = %q, %v", in, got, err)
		}
	}
	if _, _, err := Target("postgres://x"); err == nil {
		t.Error("postgres url accepted")
	}
	b := Backoff{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Multiplier: 2}
	for i := 1; i < 10; i++ {
		if d := b.Delay(i); d < 0 || d >= 40*time.Millisecond {
			t.Errorf("delay %d = %v", i, d)
		}
	}
}

func TestWatchInternalIsResumedOnlyMidStream(t *testing.T) {
	_, client := startFake(t, func(n int, req *pgsyncv1.WatchWakesRequest, stream grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error {
		if req.GetDebounceMs() == 1 {
			return status.Error(codes.Internal, "internal error")
		}
		if n == 1 {
			_ = stream.Send(readyFrame("r0"))
			return status.Error(codes.Internal, "stream reset")
		}
		return stream.Send(wakeFrame(1, 1, "t1"))
	})
	got, err := drain(t, client.WatchWakes(context.Background(), WatchOptions{SourceRefs: []string{fakeRef}, Backoff: fastBackoff}))
	if !errors.Is(err, io.EOF) || fmt.Sprint(got) != fmt.Sprint([]string{"ready", "wake:" + fakeRef + "-1-1"}) {
		t.Fatalf("got %v %v", got, err)
	}
	_, err = drain(t, client.WatchWakes(context.Background(), WatchOptions{SourceRefs: []string{fakeRef}, Debounce: time.Millisecond, Backoff: fastBackoff}))
	if status.Code(err) != codes.Internal {
		t.Fatalf("internal at open: %v", err)
	}
}
