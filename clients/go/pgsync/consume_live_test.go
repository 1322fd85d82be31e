package pgsync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func newGroupName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "go-" + hex.EncodeToString(b)
}

// waitMembers polls GetConsumerGroup until the group lists n members.
func waitMembers(t *testing.T, c *Client, group string, n int) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	for {
		res, err := c.GetConsumerGroup(ctx, group, 0)
		if err == nil && len(res.GetGroup().GetMembers()) == n {
			return
		}
		if err != nil && status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never had %d members", group, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pump calls Next on g until it fails (Close), so the member joins at once; the test takes the
// deliveries with nextDelivery.
func pump(g *GroupConsumer) <-chan *Delivery {
	ch := make(chan *Delivery, 16)
	go func() {
		defer close(ch)
		for {
			d, err := g.Next(context.Background())
			if err != nil {
				return
			}
			ch <- d
		}
	}()
	return ch
}

func nextDelivery(t *testing.T, ch <-chan *Delivery) *Delivery {
	t.Helper()
	select {
	case d, ok := <-ch:
		if !ok {
			t.Fatal("member stopped")
		}
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery within 30s")
	}
	return nil
}

func TestLiveConsumeTwoMembersAckEveryChangeOnce(t *testing.T) {
	s := liveStack(t)
	c := newClient(t, s.PgsyncURL, s.TokenA)
	table := newTable(t, s)
	ref := registerLive(t, c, table)
	group := newGroupName()
	req := &pgsyncv1.ConsumeWakesRequest{
		Group: group, SourceRefs: []string{ref}, Ordering: pgsyncv1.Ordering_ORDERING_NONE,
		MaxChangesPerWake: 1, MaxInFlight: 2,
	}
	var mu sync.Mutex
	var ids []string
	var outcomes []pgsyncv1.SettleStatus
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		g := c.ConsumeWakes(ctx, req, WithConsumeBackoff(fastBackoff))
		wg.Go(func() {
			for {
				d, err := g.Next(ctx)
				if err != nil {
					return
				}
				st, err := d.Ack(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				for _, ch := range d.Wake.GetChanges() {
					ids = append(ids, ch.GetKey())
				}
				outcomes = append(outcomes, st)
				mu.Unlock()
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	waitMembers(t, c, group, 2)
	for i := range 20 {
		sqlExec(t, s, fmt.Sprintf("INSERT INTO %s (title) VALUES ('job %d')", table, i))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(outcomes)
		mu.Unlock()
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 20 deliveries acknowledged", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(ids)
	if len(ids) != 20 || len(slices.Compact(slices.Clone(ids))) != 20 {
		t.Fatalf("want 20 distinct keys acknowledged once, got %v", ids)
	}
	for _, st := range outcomes {
		if st != pgsyncv1.SettleStatus_SETTLE_STATUS_ACKNOWLEDGED {
			t.Fatalf("outcome %v", st)
		}
	}
}

func TestLiveConsumeNackRetryAndHandOverOnClose(t *testing.T) {
	s := liveStack(t)
	c := newClient(t, s.PgsyncURL, s.TokenA)
	table := newTable(t, s)
	ref := registerLive(t, c, table)
	group := newGroupName()
	req := &pgsyncv1.ConsumeWakesRequest{Group: group, SourceRefs: []string{ref}, MaxChangesPerWake: 1}
	first := c.ConsumeWakes(context.Background(), req, WithConsumeBackoff(fastBackoff))
	defer first.Close()
	firstCh := pump(first)
	waitMembers(t, c, group, 1)
	sqlExec(t, s, fmt.Sprintf("INSERT INTO %s (title) VALUES ('a'), ('b')", table))
	ctx := ctxT(t, 30*time.Second)
	d1 := nextDelivery(t, firstCh)
	// ConsumeReady came before the first delivery.
	if first.MemberID() == "" || first.Settings().GetOrdering() != pgsyncv1.Ordering_ORDERING_SOURCE {
		t.Fatalf("ready: member %q settings %v", first.MemberID(), first.Settings())
	}
	if d1.Attempt != 1 || d1.Wake == nil || time.Until(d1.AckDeadline) <= 0 {
		t.Fatalf("first delivery %+v", d1)
	}
	nackedAt := time.Now()
	if st, err := d1.NackError(ctx, 400*time.Millisecond, "not yet"); err != nil || st != pgsyncv1.SettleStatus_SETTLE_STATUS_RELEASED {
		t.Fatalf("nack: %v %v", st, err)
	}
	again := nextDelivery(t, firstCh) // ORDERING_SOURCE: the nacked wake keeps its place, ahead of 'b'
	if waited := time.Since(nackedAt); waited < 400*time.Millisecond {
		t.Fatalf("redelivered after %v, before retry_after", waited)
	}
	if again.Attempt != 2 || again.Wake.GetWakeId() != d1.Wake.GetWakeId() {
		t.Fatalf("redelivery %+v of %s", again, d1.Wake.GetWakeId())
	}
	if st, _ := d1.Ack(ctx); st != pgsyncv1.SettleStatus_SETTLE_STATUS_STALE {
		t.Fatalf("ack of the expired attempt: %v", st)
	}
	res, err := first.Ack(ctx, again.ID, "not-a-delivery")
	if err != nil || res[again.ID] != pgsyncv1.SettleStatus_SETTLE_STATUS_ACKNOWLEDGED || res["not-a-delivery"] != pgsyncv1.SettleStatus_SETTLE_STATUS_UNKNOWN {
		t.Fatalf("batched ack: %v %v", res, err)
	}
	held := nextDelivery(t, firstCh)
	if title := held.Wake.GetChanges()[0].GetValue().GetFields()["title"].GetStringValue(); title != "b" {
		t.Fatalf("second wake title %q", title)
	}
	first.Close() // leaves holding 'b': it goes back to the group at once

	second := c.ConsumeWakes(context.Background(), req, WithConsumeBackoff(fastBackoff))
	defer second.Close()
	handed := nextDelivery(t, pump(second))
	if handed.Attempt != 2 || handed.Wake.GetWakeId() != held.Wake.GetWakeId() {
		t.Fatalf("hand-over %+v, want %s attempt 2", handed, held.Wake.GetWakeId())
	}
	if st, err := handed.Ack(ctx); err != nil || st != pgsyncv1.SettleStatus_SETTLE_STATUS_ACKNOWLEDGED {
		t.Fatalf("ack: %v %v", st, err)
	}
	if st, _ := handed.Ack(ctx); st != pgsyncv1.SettleStatus_SETTLE_STATUS_ALREADY_ACKNOWLEDGED {
		t.Fatalf("second ack: %v", st)
	}
	second.Close()
	if err := c.DeleteConsumerGroup(ctx, group); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetConsumerGroup(ctx, group, 0); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted group: %v", err)
	}
}

func TestConsumeRejectsBadRequestsNamingTheField(t *testing.T) {
	c, err := New("http://127.0.0.1:1", "tok") // never dialled
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cases := map[string]*pgsyncv1.ConsumeWakesRequest{
		"group":          {SourceRefs: []string{"x"}},
		"source_refs":    {Group: "g"},
		"source_refs[1]": {Group: "g", SourceRefs: []string{"x", ""}},
		"ordering":       {Group: "g", SourceRefs: []string{"x"}, Ordering: 9},
	}
	for field, req := range cases {
		g := c.ConsumeWakes(context.Background(), req)
		_, err := g.Next(context.Background())
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
	g := c.ConsumeWakes(context.Background(), &pgsyncv1.ConsumeWakesRequest{Group: "g", SourceRefs: []string{"x"}})
	if _, err := g.Ack(context.Background()); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "delivery_ids") {
		t.Errorf("empty ack: %v", err)
	}
	if _, err := g.Nack(context.Background(), -time.Second, "", "id"); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "retry_after") {
		t.Errorf("negative retry: %v", err)
	}
}
