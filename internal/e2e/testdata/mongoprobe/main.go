// Command mongoprobe tries to read a MongoDB wire-protocol listener the way another
// local user would: TestStoreRefusesOtherUsers runs it under setpriv as uid 65534.
//
//	mongoprobe unix PATH       a Unix socket (@NAME: an abstract one)
//	mongoprobe tcp HOST:PORT   plain, then TLS without a client certificate
//
// It prints one line: "OPEN: ..." when it could run commands (ping, then read the
// cmdb's tokens), "REFUSED: ..." otherwise. Exit status 2 is a usage error.
package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: mongoprobe unix PATH | tcp HOST:PORT")
		os.Exit(2)
	}
	kind, addr := os.Args[1], os.Args[2]
	var uris []string
	switch kind {
	case "unix":
		// The socket itself first: a refusal here is the kernel's (permissions).
		c, err := net.DialTimeout("unix", addr, 3*time.Second)
		if err != nil {
			fmt.Println("REFUSED: connect:", err)
			return
		}
		c.Close()
		if addr[0] == '@' {
			// The driver cannot name an abstract socket; connecting is enough.
			fmt.Println("OPEN: connected to an abstract socket")
			return
		}
		uris = []string{"mongodb://" + url.QueryEscape(addr) + "/"}
	case "tcp":
		uris = []string{"mongodb://" + addr + "/", "mongodb://" + addr + "/?tls=true&tlsInsecure=true"}
	default:
		fmt.Fprintln(os.Stderr, "usage: mongoprobe unix PATH | tcp HOST:PORT")
		os.Exit(2)
	}
	var errs []string
	for _, u := range uris {
		n, err := read(u)
		if err == nil {
			fmt.Printf("OPEN: %s answered; %d token(s) read\n", u, n)
			return
		}
		errs = append(errs, fmt.Sprintf("%s: %v", u, err))
	}
	fmt.Println("REFUSED:", errs)
}

// read pings the server and counts the documents of cmdb.tokens.
func read(uri string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(3 * time.Second).SetConnectTimeout(3 * time.Second))
	if err != nil {
		return 0, err
	}
	defer c.Disconnect(context.Background())
	if err := c.Ping(ctx, nil); err != nil {
		return 0, err
	}
	return c.Database("cmdb").Collection("tokens").CountDocuments(ctx, bson.M{})
}
