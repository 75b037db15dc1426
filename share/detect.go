package share

import (
	"bytes"
	"strconv"
	"strings"
)

// Secrets by content. Every shared file is read once to be hashed; while its
// blocks stream through HashReader, a secretScanner looks at the same bytes
// for the shapes of credentials, so finding them costs no second read. The
// rules are Porch's own, written after the shapes gitleaks
// (github.com/gitleaks/gitleaks, config/gitleaks.toml) looks for; each
// carries the id of the gitleaks rule it follows:
//
//	private-key              -----BEGIN ... PRIVATE KEY[ BLOCK]----- (PKCS#1, PKCS#8, SEC1, DSA,
//	                         OpenSSH, encrypted PEM, PGP) followed by a real body: optional
//	                         "Name: value" headers, then at least 64 base64 characters
//	putty-private-key        PuTTY-User-Key-File-2/3: TYPE, then an Encryption: line (a .ppk)
//	aws-access-token         AKIA + 16 of [A-Z2-7] (not the documentation's ...EXAMPLE keys)
//	github-pat               ghp_/gho_/ghu_/ghs_/ghr_ + 36 alphanumerics
//	github-fine-grained-pat  github_pat_ + 82 of [A-Za-z0-9_]
//	gitlab-pat               glpat- + 20 of [A-Za-z0-9_-]
//	slack-token              xoxb-/xoxp-/xoxe- + 10 to 13 digits + -
//	stripe-access-token      sk_/rk_ + live_/prod_ + 24 to 99 alphanumerics
//	npm-access-token         npm_ + 36 of [a-z0-9]
//	gcp-api-key              AIza + 35 of [A-Za-z0-9_-]
//	anthropic-api-key        sk-ant-api03- + 93 of [A-Za-z0-9_-] + AA
//	openai-api-key           sk-proj-/sk-svcacct-/sk-admin-/sk- + a body holding T3BlbkFJ
//	env-secrets              a .env-style file: its first 64 KiB are mostly KEY=value lines and
//	                         one of them gives a key named like a secret (PASSWORD, TOKEN,
//	                         SECRET, API_KEY, ACCESS_KEY, PRIVATE_KEY, CREDENTIAL) a real value
//
// False alarms are kept rare by asking for structure, not a keyword: public
// keys (ssh-rsa AAAA..., BEGIN PUBLIC KEY) and certificates (BEGIN
// CERTIFICATE) match no rule, a text that names "BEGIN RSA PRIVATE KEY"
// without a body does not match, tokens must stand alone (no letter or digit
// right before or after) and have their exact length, and values that are
// placeholders ($VAR, <...>, changeme, your-...) or paths and URLs do not
// count.
//
// Binary files (a NUL byte in the first 8000 bytes, git's test; gitleaks
// skips them too) are not scanned: photos, music and video are most of what
// is shared, and looking through them would cost hashing speed for nothing.
// Keys kept in binary form (PKCS#12, Java key stores) are caught by name
// (IsSecretName); a key inside an archive is not caught.

// secretRulesVersion is stored with every hash in the hash cache. A record
// checked by other rules (or by none: records of earlier versions have 0) is
// not trusted for its verdict, so the file is read and checked again.
const secretRulesVersion = 1

const (
	binarySniff = int64(8000) // bytes looked at for a NUL, as git does
	envSniff    = 64 << 10    // the part of a text file the env-secrets rule reads
	maxEnvLines = 256         // KEY=value lines it reads at most without finding a secret
	// seamLen is how far a pattern may reach: everything a rule looks at
	// lies within seamLen bytes of its anchor, so a pattern that straddles
	// two writes is seen whole in the last seamLen bytes of one and the first
	// seamLen of the next.
	seamLen = 1024
	// maxPrefix is how far before its anchor byte a pattern starts at most
	// ("github" before the _ of github_pat_).
	maxPrefix = 8
)

// secretScanner recognises likely secrets in a stream of writes. Memory is
// bounded (2·seamLen bytes, and up to envSniff while a text file's first
// write is shorter than that) and it stops looking once it found one. Not
// safe for concurrent use.
type secretScanner struct {
	found   string // the rule that matched; "" while none
	total   int64  // bytes written
	binary  bool
	env     []byte // the start of a text stream whose first write was short, for env-secrets
	envDone bool
	tail    []byte // the last seamLen bytes written so far
	seam    []byte // scratch: tail and the head of the next write
}

// Write scans b, the bytes that follow everything written before.
func (s *secretScanner) Write(b []byte) {
	if s.binary || len(b) == 0 {
		return
	}
	before := s.total
	s.total += int64(len(b))
	if before < binarySniff && bytes.IndexByte(b[:min(int64(len(b)), binarySniff-before)], 0) >= 0 {
		// Binary after all (the first writes were shorter than the sniff):
		// whatever the text before seemed to hold, binary files are not
		// scanned, so the verdict is the whole stream's.
		s.binary, s.found, s.envDone, s.env = true, "", true, nil
		return
	}
	if s.found != "" {
		return
	}
	if !s.envDone {
		if len(s.env) == 0 && len(b) >= envSniff {
			s.checkEnv(b[:envSniff])
		} else {
			s.env = append(s.env, b[:min(len(b), envSniff-len(s.env))]...)
			if len(s.env) == envSniff {
				s.checkEnv(s.env)
			}
		}
		if s.found != "" {
			return
		}
	}
	from := 0
	if len(s.tail) > 0 {
		s.seam = append(append(s.seam[:0], s.tail...), b[:min(len(b), seamLen)]...)
		// The seam holds the patterns that straddle the two writes: those
		// anchored in the tail, or at the start of b with their prefix in
		// the tail. The tail's first bytes, whose prefix or preceding byte
		// the seam lacks, were seen whole in an earlier write, unless the
		// tail starts the stream.
		lo := maxPrefix + 1
		if before <= int64(len(s.tail)) {
			lo = 0
		}
		if s.found = s.scan(s.seam, lo, min(len(s.seam), len(s.tail)+maxPrefix+1)); s.found != "" {
			return
		}
		from = maxPrefix + 1
	}
	if s.found = s.scan(b, from, len(b)); s.found != "" {
		return
	}
	if len(b) >= seamLen {
		s.tail = append(s.tail[:0], b[len(b)-seamLen:]...)
	} else {
		s.tail = append(s.tail, b...)
		s.tail = s.tail[:copy(s.tail, s.tail[max(0, len(s.tail)-seamLen):])]
	}
}

// checkEnv runs the env-secrets rule on the start of the stream, once.
func (s *secretScanner) checkEnv(head []byte) {
	s.envDone = true
	if envSecrets(head) {
		s.found = "env-secrets"
	}
	s.env = nil
}

// Close ends the stream: a token that ends the file (no byte after it) is
// matched now, and env-secrets looks at a file shorter than envSniff.
func (s *secretScanner) Close() {
	if s.binary {
		return
	}
	if s.found == "" && !s.envDone {
		s.checkEnv(s.env)
	}
	if s.found == "" && len(s.tail) > 0 {
		lo := maxPrefix + 1
		if s.total <= int64(len(s.tail)) {
			lo = 0
		}
		s.seam = append(append(s.seam[:0], s.tail...), '\n')
		s.found = s.scan(s.seam, min(lo, len(s.tail)), len(s.tail))
	}
}

// Rule returns the id of the rule that matched, or "".
func (s *secretScanner) Rule() string { return s.found }

// scan looks for a pattern anchored at from or after and before limit in
// b. A pattern may start at b[0] only when b starts the stream.
func (s *secretScanner) scan(b []byte, from, limit int) string {
	// One vectorised pass finds the anchor bytes (see forAnchors), and
	// only where one stands are the few bytes around compared.
	var r string
	forAnchors(b, from, limit, func(i int) bool {
		switch b[i] {
		case '-':
			r = checkDash(b, i)
		case '_':
			r = checkUnderscore(b, i)
		case 'K':
			r = checkK(b, i)
		case 'z':
			r = checkZ(b, i)
		}
		return r == ""
	})
	return r
}

var pemBegin = []byte("-----BEGIN ")

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isBase64(c byte) bool { return isAlnum(c) || c == '+' || c == '/' || c == '=' }

// wordStart reports whether a token may start at j: nothing alphanumeric
// right before it.
func wordStart(b []byte, j int) bool { return j == 0 || !isAlnum(b[j-1]) }

// hasAt reports whether b holds s at i.
func hasAt(b []byte, i int, s string) bool {
	return i >= 0 && i+len(s) <= len(b) && string(b[i:i+len(s)]) == s
}

// runOf returns how many bytes of b from i satisfy ok, counting at most max.
func runOf(b []byte, i, max int, ok func(byte) bool) int {
	n := 0
	for i+n < len(b) && n < max && ok(b[i+n]) {
		n++
	}
	return n
}

// token reports whether b holds, from i, between min and max bytes of class
// ok followed by a byte that is not alphanumeric (or the end of b). A body
// that reaches the end of b is not a match: the rest may follow in the next
// write, and the seam scan sees both.
func token(b []byte, i, min, max int, ok func(byte) bool) bool {
	n := runOf(b, i, max+1, ok)
	if n < min || n > max || i+n >= len(b) {
		return false
	}
	return !isAlnum(b[i+n])
}

func alnum(c byte) bool      { return isAlnum(c) }
func word(c byte) bool       { return isAlnum(c) || c == '_' }
func wordDash(c byte) bool   { return isAlnum(c) || c == '_' || c == '-' }
func lowerDigit(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' }
func digit(c byte) bool      { return c >= '0' && c <= '9' }
func awsChar(c byte) bool    { return c >= 'A' && c <= 'Z' || c >= '2' && c <= '7' }

// checkZ: AIza (gcp-api-key), anchored on its z.
func checkZ(b []byte, i int) string {
	if i >= 2 && b[i-1] == 'I' && b[i-2] == 'A' && hasAt(b, i+1, "a") && wordStart(b, i-2) && token(b, i+2, 35, 35, wordDash) {
		return "gcp-api-key"
	}
	return ""
}

// checkK: AKIA (aws-access-token), anchored on its K.
func checkK(b []byte, i int) string {
	if i >= 1 && b[i-1] == 'A' && hasAt(b, i+1, "IA") && wordStart(b, i-1) && token(b, i+3, 16, 16, awsChar) &&
		!hasAt(b, i+12, "EXAMPLE") {
		return "aws-access-token"
	}
	return ""
}

// checkDash: PEM blocks, PuTTY keys and the tokens whose prefix ends in -.
func checkDash(b []byte, i int) string {
	if i+1 < len(b) && b[i+1] == '-' {
		if hasAt(b, i, "-----BEGIN ") && pemKeyAt(b, i) {
			return "private-key"
		}
		return ""
	}
	if i < 2 {
		return ""
	}
	switch b[i-1] {
	case 'Y':
		if hasAt(b, i-5, "PuTTY") && puttyAt(b, i+1) {
			return "putty-private-key"
		}
	case 't':
		if hasAt(b, i-5, "glpat") && wordStart(b, i-5) && token(b, i+1, 20, 20, wordDash) {
			return "gitlab-pat"
		}
	case 'b', 'p', 'e':
		if i >= 4 && hasAt(b, i-4, "xox") && wordStart(b, i-4) {
			if n := runOf(b, i+1, 14, digit); n >= 10 && n <= 13 && i+1+n < len(b) && b[i+1+n] == '-' {
				return "slack-token"
			}
		}
	case 'k':
		if b[i-2] == 's' && wordStart(b, i-2) {
			return checkSK(b, i+1)
		}
	}
	return ""
}

// checkSK looks at what follows "sk-" at j: Anthropic and OpenAI keys.
func checkSK(b []byte, j int) string {
	if hasAt(b, j, "ant-api03-") {
		k := j + len("ant-api03-")
		if n := runOf(b, k, 96, wordDash); n == 95 && hasAt(b, k+93, "AA") && k+n < len(b) && !isAlnum(b[k+n]) {
			return "anthropic-api-key"
		}
		return ""
	}
	for _, p := range []string{"proj-", "svcacct-", "admin-", ""} {
		if hasAt(b, j, p) {
			k := j + len(p)
			n := runOf(b, k, 200, wordDash)
			if n >= 40 && n < 200 && k+n < len(b) && bytes.Contains(b[k:k+n], []byte("T3BlbkFJ")) {
				return "openai-api-key"
			}
			if p != "" {
				return ""
			}
		}
	}
	return ""
}

// checkUnderscore: the tokens whose prefix ends in _.
func checkUnderscore(b []byte, i int) string {
	if i < 2 {
		return ""
	}
	switch b[i-1] {
	case 'p', 'o', 'u', 's', 'r':
		if i >= 3 && b[i-3] == 'g' && b[i-2] == 'h' && wordStart(b, i-3) && token(b, i+1, 36, 36, alnum) {
			return "github-pat"
		}
	case 'b':
		if hasAt(b, i-6, "github") && wordStart(b, i-6) && hasAt(b, i+1, "pat_") && token(b, i+5, 82, 82, word) {
			return "github-fine-grained-pat"
		}
	case 'm':
		if hasAt(b, i-3, "npm") && wordStart(b, i-3) && token(b, i+1, 36, 36, lowerDigit) {
			return "npm-access-token"
		}
	case 'k':
		if (b[i-2] == 's' || b[i-2] == 'r') && wordStart(b, i-2) && (hasAt(b, i+1, "live_") || hasAt(b, i+1, "prod_")) &&
			token(b, i+6, 24, 99, alnum) {
			return "stripe-access-token"
		}
	}
	return ""
}

// pemKeyAt reports whether b holds at i a PEM private key block: the
// "-----BEGIN <label>-----" line with a label ending in PRIVATE KEY (or
// PRIVATE KEY BLOCK), optional "Name: value" header lines (encrypted PEM,
// PGP armour) and then at least 64 base64 characters. Line breaks may be
// real or written as \n inside a quoted string (JSON key files).
func pemKeyAt(b []byte, i int) bool {
	j := i + len(pemBegin)
	end := bytes.Index(b[j:min(len(b), j+100)], []byte("-----"))
	if end < 0 {
		return false
	}
	label := string(b[j : j+end])
	if !strings.HasSuffix(label, "PRIVATE KEY") && !strings.HasSuffix(label, "PRIVATE KEY BLOCK") {
		return false
	}
	for k := 0; k < len(label); k++ {
		if c := label[k]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '_' || c == '-') {
			return false
		}
	}
	j += end + len("-----")
	// Header lines: "Proc-Type: 4,ENCRYPTED", "DEK-Info: ...", "Version: ...".
	for range 4 {
		j = skipBreaks(b, j)
		line := j
		for line < len(b) && line-j < 128 && b[line] != '\n' && b[line] != '\r' && b[line] != '\\' {
			line++
		}
		if colon := bytes.Index(b[j:line], []byte(": ")); colon > 0 && !bytes.ContainsAny(b[j:j+colon], " =") {
			j = line
			continue
		}
		break
	}
	n := 0
	for j < len(b) && n < 64 {
		switch {
		case isBase64(b[j]):
			n++
			j++
		case b[j] == '\n' || b[j] == '\r':
			j++
		case b[j] == '\\' && j+1 < len(b) && (b[j+1] == 'n' || b[j+1] == 'r'):
			j += 2
		default:
			return false
		}
	}
	return n >= 64
}

// skipBreaks skips line breaks (real, or \n and \r escapes) from j.
func skipBreaks(b []byte, j int) int {
	for j < len(b) {
		switch {
		case b[j] == '\n' || b[j] == '\r':
			j++
		case b[j] == '\\' && j+1 < len(b) && (b[j+1] == 'n' || b[j+1] == 'r'):
			j += 2
		default:
			return j
		}
	}
	return j
}

// puttyAt reports whether b holds, from j (just after "PuTTY-"), the start
// of a PuTTY private key file: "User-Key-File-2: " or "-3: ", a key type,
// and an "Encryption: " line next.
func puttyAt(b []byte, j int) bool {
	if !hasAt(b, j, "User-Key-File-") {
		return false
	}
	j += len("User-Key-File-")
	if j+3 > len(b) || (b[j] != '2' && b[j] != '3') || b[j+1] != ':' || b[j+2] != ' ' {
		return false
	}
	j += 3
	n := runOf(b, j, 64, func(c byte) bool { return isAlnum(c) || c == '-' || c == '@' || c == '.' })
	if n == 0 {
		return false
	}
	j = skipBreaks(b, j+n)
	return hasAt(b, j, "Encryption: ")
}

// envSecrets reports whether text looks like a .env file that holds a
// secret: at least two KEY=value lines, which make up at least 80% of the
// lines that are not blank, comments or [sections], and one of which names a
// secret and gives it a real value.
func envSecrets(text []byte) bool {
	if bytes.IndexByte(text, '=') < 0 {
		return false
	}
	assign, other, secret := 0, 0, false
	for len(text) > 0 {
		var line []byte
		if k := bytes.IndexByte(text, '\n'); k >= 0 {
			line, text = text[:k], text[k+1:]
		} else {
			line, text = text, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' || line[0] == ';' || line[0] == '[' && line[len(line)-1] == ']' {
			continue
		}
		line = bytes.TrimPrefix(line, []byte("export "))
		key, val, ok := envLine(line)
		if !ok {
			// Most text is not .env-like: it is given up on as soon as
			// other lines outnumber a fifth of the assignments, after a
			// few lines of grace.
			if other++; other > 4 && assign < 4*other {
				return false
			}
			continue
		}
		assign++
		if !secret && len(val) >= 8 && secretKey(key) && realValue(val) {
			secret = true
		}
		if !secret && assign >= maxEnvLines {
			// A long list of settings without a secret among its first
			// lines: generated constants, not a .env file.
			return false
		}
	}
	return secret && assign >= 2 && assign*5 >= (assign+other)*4
}

// envLine splits "KEY=value" (or "key = value"); the key is a name of
// letters, digits, _, . and -.
func envLine(line []byte) (key []byte, val []byte, ok bool) {
	n := runOf(line, 0, len(line), func(c byte) bool { return isAlnum(c) || c == '_' || c == '.' || c == '-' })
	if n == 0 || line[0] == '.' || line[0] == '-' {
		return nil, nil, false
	}
	rest := bytes.TrimLeft(line[n:], " \t")
	if len(rest) == 0 || rest[0] != '=' {
		return nil, nil, false
	}
	return line[:n], bytes.TrimSpace(rest[1:]), true
}

var secretKeyWords = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIAL"}

// notSecretSuffixes mark keys that name where a secret is, or who uses it,
// rather than the secret itself.
var notSecretSuffixes = []string{"_FILE", "_PATH", "_DIR", "_URL", "_URI", "_ENDPOINT", "_HOST", "_PORT", "_NAME", "_USER", "_ID", "_LENGTH", "_TTL", "_EXPIRY", "_TYPE"}

func secretKey(key []byte) bool {
	var buf [128]byte
	k := buf[:0]
	for _, c := range key[:min(len(key), len(buf))] {
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c == '-' || c == '.':
			c = '_'
		}
		k = append(k, c)
	}
	for _, s := range notSecretSuffixes {
		if bytes.HasSuffix(k, []byte(s)) {
			return false
		}
	}
	for _, w := range secretKeyWords {
		if bytes.Contains(k, []byte(w)) {
			return true
		}
	}
	return false
}

var placeholders = []string{"changeme", "change_me", "change-me", "password", "secret", "example", "your", "xxx", "todo",
	"replace", "dummy", "placeholder", "none", "null", "true", "false", "****"}

// realValue reports whether val looks like an actual secret: at least 8
// bytes without spaces once unquoted, not a reference ($VAR, ${...}, <...>,
// {{...}}), a path, a URL, a number nor a placeholder word, and a mix of
// kinds of characters.
func realValue(val []byte) bool {
	if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
		val = val[1 : len(val)-1]
	}
	if len(val) < 8 || bytes.ContainsAny(val, " \t") {
		return false
	}
	switch val[0] {
	case '$', '<', '{', '/', '.', '~', '%':
		return false
	}
	if bytes.Contains(val, []byte("://")) {
		return false
	}
	low := strings.ToLower(string(val))
	for _, p := range placeholders {
		if strings.HasPrefix(low, p) {
			return false
		}
	}
	// Numbers (0x40000000, 3600) are settings; a secret mixes at least
	// two of lower case, upper case, digits and symbols.
	if _, err := strconv.ParseFloat(strings.TrimLeft(low, "+-"), 64); err == nil {
		return false
	}
	if _, err := strconv.ParseUint(strings.TrimLeft(low, "+-"), 0, 64); err == nil {
		return false
	}
	var classes [4]bool
	for _, c := range val {
		switch {
		case c >= 'a' && c <= 'z':
			classes[0] = true
		case c >= 'A' && c <= 'Z':
			classes[1] = true
		case c >= '0' && c <= '9':
			classes[2] = true
		default:
			classes[3] = true
		}
	}
	n := 0
	for _, c := range classes {
		if c {
			n++
		}
	}
	return n >= 2
}
