package pgsync

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Client calls one pg-sync server. Errors are gRPC status errors (use status.Code and Reason).
type Client struct {
	conn *grpc.ClientConn
	rpc  pgsyncv1.PgSyncServiceClient
}

// bearer sends `authorization: Bearer <token>` on every call, also over plaintext h2c.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// Target turns `http://host:port`, `https://host:port` or `host:port` into a gRPC target and
// whether TLS is used.
func Target(rawURL string) (target string, useTLS bool, err error) {
	if !strings.Contains(rawURL, "://") {
		return rawURL, false, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "", false, fmt.Errorf("pgsync: url must be http://host:port or https://host:port, got %q", rawURL)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port), u.Scheme == "https", nil
}

// New creates a client for url (`http://host:port` is plaintext h2c); a non-empty token is sent
// as a bearer token. Extra dial options are appended. The connection is made lazily.
func New(rawURL, token string, opts ...grpc.DialOption) (*Client, error) {
	target, useTLS, err := Target(rawURL)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if useTLS {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
	if token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(target, append(dial, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, rpc: pgsyncv1.NewPgSyncServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// RPC is the generated stub, for anything the helpers do not cover.
func (c *Client) RPC() pgsyncv1.PgSyncServiceClient { return c.rpc }

// Proto converts the options to the wire form.
func (o SourceOptions) Proto() *pgsyncv1.SourceOptions {
	p := &pgsyncv1.SourceOptions{Url: o.URL, Table: o.Table, Columns: o.Columns, Where: o.Where, Metadata: o.Metadata}
	switch params := o.Params.(type) {
	case PositionalParams:
		p.Params = &pgsyncv1.SourceOptions_PositionalParams{PositionalParams: &pgsyncv1.PositionalParams{Values: params}}
	case NamedParams:
		p.Params = &pgsyncv1.SourceOptions_NamedParams{NamedParams: &pgsyncv1.NamedParams{Values: params}}
	}
	switch o.Replica {
	case "default":
		p.Replica = pgsyncv1.Replica_REPLICA_DEFAULT
	case "full":
		p.Replica = pgsyncv1.Replica_REPLICA_FULL
	}
	return p
}

// RegisterSource registers a source (idempotent) and returns its ref, whether it was created,
// and the source as stored.
func (c *Client) RegisterSource(ctx context.Context, opts SourceOptions) (*pgsyncv1.RegisterSourceResponse, error) {
	if _, err := CanonicalJSON(opts); err != nil {
		return nil, err
	}
	return c.rpc.RegisterSource(ctx, &pgsyncv1.RegisterSourceRequest{Options: opts.Proto()})
}

// GetSource returns one of the caller's sources (NOT_FOUND when unknown or another tenant's).
func (c *Client) GetSource(ctx context.Context, sourceRef string) (*pgsyncv1.Source, error) {
	res, err := c.rpc.GetSource(ctx, &pgsyncv1.GetSourceRequest{SourceRef: sourceRef})
	if err != nil {
		return nil, err
	}
	return res.GetSource(), nil
}

// ListSources returns one page of the caller's sources.
func (c *Client) ListSources(ctx context.Context, pageSize int32, pageToken string) (*pgsyncv1.ListSourcesResponse, error) {
	return c.rpc.ListSources(ctx, &pgsyncv1.ListSourcesRequest{PageSize: pageSize, PageToken: pageToken})
}

// AllSources returns every source of the caller, following page tokens.
func (c *Client) AllSources(ctx context.Context) ([]*pgsyncv1.Source, error) {
	var out []*pgsyncv1.Source
	token := ""
	for {
		page, err := c.ListSources(ctx, 0, token)
		if err != nil {
			return nil, err
		}
		out = append(out, page.GetSources()...)
		if token = page.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// DeleteSource deletes one of the caller's sources.
func (c *Client) DeleteSource(ctx context.Context, sourceRef string) error {
	_, err := c.rpc.DeleteSource(ctx, &pgsyncv1.DeleteSourceRequest{SourceRef: sourceRef})
	return err
}

// GetCursor returns where a source stands.
func (c *Client) GetCursor(ctx context.Context, sourceRef string) (*pgsyncv1.Cursor, error) {
	res, err := c.rpc.GetCursor(ctx, &pgsyncv1.GetCursorRequest{SourceRef: sourceRef})
	if err != nil {
		return nil, err
	}
	return res.GetCursor(), nil
}

// ErrorInfo returns the google.rpc.ErrorInfo detail of a pg-sync error, or nil.
func ErrorInfo(err error) *errdetails.ErrorInfo {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return nil
	}
	for _, d := range se.GRPCStatus().Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// Reason is the ErrorInfo reason of err (e.g. "SOURCE_NOT_FOUND"), or "".
func Reason(err error) string {
	if info := ErrorInfo(err); info != nil {
		return info.GetReason()
	}
	return ""
}
