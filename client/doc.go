// Package client is the Go client of the aijobs HTTP API: submit an AI
// request as a background job, then follow it until it ends, by long-polling
// (Wait) or by Server-Sent Events with long-polling as the fallback (Watch).
//
// A Client is safe for concurrent use. Every method takes a context; cancel
// it to stop waiting. API errors are *Error values that match the sentinels
// of this package with errors.Is:
//
//	c := client.New("http://127.0.0.1:8080", os.Getenv("AIJOBS_TOKEN"), nil)
//	sub, err := c.Submit(ctx, client.SubmitRequest{Input: "Plan my week", RequestID: "req-42"})
//	if errors.Is(err, client.ErrQuota) {
//		// out of requests until the quota resets
//	}
//	job, err := c.Watch(ctx, sub.ID, 0, func(ev jobtype.Event) {
//		if ev.Type == jobtype.EventOutput {
//			fmt.Print(ev.Text) // the model's output as it streams
//		}
//	})
//	if err == nil && job.Status == jobtype.StatusCompleted {
//		fmt.Println(string(job.Result))
//	}
//
// The HTTP contract the client speaks is docs/api.md of the aijobs
// repository.
package client
