package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/aijobs/aijobs/client"
	"github.com/aijobs/aijobs/jobtype"
)

// Submit an AI request, show its output as it streams, and read the result.
func Example() {
	srv := exampleServer() // in real use: the URL of `aijobs serve`
	defer srv.Close()

	ctx := context.Background()
	c := client.New(srv.URL, "my-api-token", nil)
	sub, err := c.Submit(ctx, client.SubmitRequest{Input: "I want to run 5 km", RequestID: "req-1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("submitted", sub.ID, sub.Status)

	job, err := c.Watch(ctx, sub.ID, 0, func(ev jobtype.Event) {
		if ev.Type == jobtype.EventOutput {
			fmt.Printf("%3d%% %q\n", ev.Progress, ev.Text)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	var result jobtype.Result
	if err := json.Unmarshal(job.Result, &result); err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.Status, result.Intent, result.Text)
	// Output:
	// submitted job_example queued
	//  50% "Run 5 km "
	//  90% "by June."
	// completed smart_goal Run 5 km by June.
}
