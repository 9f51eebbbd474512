package membership

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"github.com/hashicorp/memberlist"
)

// LoadKeyring reads a serf keyring file: a JSON list of base64-encoded
// keys, the first of which is the primary (the one used to encrypt); all
// are tried to decrypt. This is the file serf's agent reads and writes with
// -keyring-file.
func LoadKeyring(path string) (*memberlist.Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("membership: keyring: %w", err)
	}
	var encoded []string
	if err := json.Unmarshal(data, &encoded); err != nil {
		return nil, fmt.Errorf("membership: keyring %s: not a JSON list of keys: %w", path, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("membership: keyring %s holds no keys", path)
	}
	keys := make([][]byte, len(encoded))
	for i, s := range encoded {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("membership: keyring %s: key %d is not base64: %w", path, i, err)
		}
		keys[i] = k
	}
	kr, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("membership: keyring %s: %w", path, err)
	}
	return kr, nil
}

// WriteKeyring writes keys (raw AES keys of 16, 24 or 32 bytes, the first
// being the primary) to path in the keyring file format, readable only by
// its owner.
func WriteKeyring(path string, keys ...[]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("membership: no keys to write")
	}
	encoded := make([]string, len(keys))
	for i, k := range keys {
		switch len(k) {
		case 16, 24, 32:
		default:
			return fmt.Errorf("membership: key %d is %d bytes, want 16, 24 or 32", i, len(k))
		}
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	data, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o600)
}
