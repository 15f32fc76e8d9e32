package webhook_test

import (
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/webhook"
)

func TestDecide(t *testing.T) {
	app := store.App{ID: "app_1", Name: "api", RepoURL: "https://github.com/acme/api", Branch: "main", AutoDeploy: true, Previews: true}
	pr := func(action, target string) forge.Event {
		return forge.Event{Kind: forge.EventPullRequest, PullRequest: &forge.PullRequest{Number: 7, Action: action, SourceBranch: "feat", TargetBranch: target, HeadSHA: "abc"}}
	}
	cases := []struct {
		name string
		app  store.App
		ev   forge.Event
		typ  string
		why  string
	}{
		{"push to the branch deploys", app, forge.Event{Kind: forge.EventPush, Branch: "main", After: "def"}, "deploy.requested", ""},
		{"push elsewhere is ignored", app, forge.Event{Kind: forge.EventPush, Branch: "dev"}, "", "push to dev; api deploys main"},
		{"deleted branch", app, forge.Event{Kind: forge.EventPush, Branch: "main", Deleted: true}, "", "deleted"},
		{"auto-deploy off", func() store.App { a := app; a.AutoDeploy = false; return a }(), forge.Event{Kind: forge.EventPush, Branch: "main"}, "", "auto-deploy is off"},
		{"tags do not deploy", app, forge.Event{Kind: forge.EventTag, Tag: "v1"}, "", "tags do not deploy"},
		{"ping", app, forge.Event{Kind: forge.EventPing}, "", "ping"},
		{"opened", app, pr(forge.PROpened, "main"), "preview.requested", ""},
		{"updated", app, pr(forge.PRUpdated, "main"), "preview.requested", ""},
		{"reopened", app, pr(forge.PRReopened, "main"), "preview.requested", ""},
		{"closed", app, pr(forge.PRClosed, "main"), "preview.closed", ""},
		{"merged", app, pr(forge.PRMerged, "main"), "preview.closed", ""},
		{"labelled", app, pr(forge.PROther, "main"), "", "#7 other"},
		{"other target", app, pr(forge.PROpened, "release"), "", "targets release"},
		{"previews off", func() store.App { a := app; a.Previews = false; return a }(), pr(forge.PROpened, "main"), "", "previews are off"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			typ, data, why := webhook.Decide(c.app, c.ev)
			if typ != c.typ || !strings.Contains(why, c.why) {
				t.Fatalf("Decide = %q, %q; want %q, %q", typ, why, c.typ, c.why)
			}
			if typ != "" && (data["app"] != "api" || data["repository"] != app.RepoURL) {
				t.Errorf("data = %v", data)
			}
			if typ == "preview.closed" && data["merged"] != (c.ev.PullRequest.Action == forge.PRMerged) {
				t.Errorf("merged = %v", data["merged"])
			}
		})
	}
}

func TestMatching(t *testing.T) {
	subs := []store.Subscription{
		{ID: "a", Events: []string{"deploy.*"}},
		{ID: "b", Events: []string{"preview.requested", "token.*"}},
		{ID: "c", Events: []string{"*"}},
	}
	got := strings.Join(webhook.Matching(subs, "deploy.requested"), ",")
	if got != "a,c" {
		t.Errorf("deploy.requested → %s", got)
	}
	if got := strings.Join(webhook.Matching(subs, "preview.closed"), ","); got != "c" {
		t.Errorf("preview.closed → %s", got)
	}
}
