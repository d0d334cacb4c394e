package sender

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestEncodeRequestMatchesEncodingJSON: the written-out request body is byte
// for byte what json.Marshal made of the documented struct, for every value
// validation lets through.
func TestEncodeRequestMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	type request struct {
		Number    string `json:"number"`
		Content   string `json:"content"`
		Value     string `json:"value"`
		Purpose   string `json:"purpose"`
		ShareWith string `json:"share_with"`
	}
	for _, purpose := range strings.Split(purposes, ", ") {
		for _, share := range strings.Split(shareWiths, ", ") {
			for _, content := range []string{"OTP", "PIN"} {
				for _, c := range []struct{ number, code string }{{"919876543210", "528914"}, {"1234567", "0000"}, {"123456789012345", "12345678"}} {
					want, err := json.Marshal(request{c.number, content, c.code, purpose, share})
					if err != nil {
						t.Fatal(err)
					}
					if got := encodeRequest(c.number, content, c.code, purpose, share); !bytes.Equal(got, want) {
						t.Errorf("encodeRequest = %s, json.Marshal = %s", got, want)
					}
				}
			}
		}
	}
}

// TestReadCapped: readCapped reads what io.ReadAll(io.LimitReader(r, limit))
// reads, from readers that return little at a time, data with EOF, or an
// error, into a buffer that may or may not have room.
func TestReadCapped(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	const limit = 100
	for _, size := range []int{0, 1, 99, 100, 101, 5000} {
		data := bytes.Repeat([]byte("x"), size)
		readers := map[string]func() io.Reader{
			"plain":       func() io.Reader { return bytes.NewReader(data) },
			"one byte":    func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
			"data at EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
			"error":       func() io.Reader { return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)) },
		}
		for name, r := range readers {
			want, wantErr := io.ReadAll(io.LimitReader(r(), limit))
			for _, buf := range [][]byte{nil, make([]byte, 0, 8), make([]byte, 0, 1024)} {
				got, err := readCapped(r(), buf, limit)
				if !bytes.Equal(got, want) || !errors.Is(err, wantErr) && err != wantErr {
					t.Errorf("%d bytes, %s reader, cap %d: %d bytes, %v; want %d bytes, %v", size, name, cap(buf), len(got), err, len(want), wantErr)
				}
			}
		}
	}
}
