package secret

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k, err := New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("sk-user-key-0123456789")
	sealed := k.Seal(plain, "job_a")
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed bytes contain the plain key")
	}
	if got, err := k.Open(sealed, "job_a"); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := k.Open(sealed, "job_b"); err == nil {
		t.Error("a key sealed for one job opened for another")
	}
	other, _ := New(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(sealed, "job_a"); err == nil {
		t.Error("opened with the wrong master key")
	}
}

func TestLoadGeneratesOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, err := Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret.key: %v mode %v, want 0600", err, info.Mode())
	}
	k2, err := Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Open(k1.Seal([]byte("x"), "c"), "c"); err != nil {
		t.Error("the second load did not read the same key")
	}
	if _, err := Load("not-hex-or-base64!", dir); err == nil {
		t.Error("a malformed AIJOBS_SECRET_KEY was accepted")
	}
}

func TestStreamTokenExpires(t *testing.T) {
	t.Parallel()
	k, _ := New(bytes.Repeat([]byte{1}, 32))
	now := time.Now()
	tok := k.SignStream("user:u1", now.Add(time.Minute))
	if scope, err := k.VerifyStream(tok, now); err != nil || scope != "user:u1" {
		t.Errorf("verify: %q %v", scope, err)
	}
	if _, err := k.VerifyStream(tok, now.Add(2*time.Minute)); err == nil {
		t.Error("an expired token verified")
	}
}
