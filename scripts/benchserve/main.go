// Command benchserve is the baseline scripts/bench.sh measures porch against: a plain HTTP file
// server (net/http, no TLS, no hashing). GET /files/PATH serves a file with Range support;
// GET /tar/PATH streams the folder PATH as an uncompressed tar. Run by hand only, inside the
// benchmark's network namespaces.
package main

import (
	"archive/tar"
	"flag"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	dir := flag.String("dir", ".", "folder to serve")
	flag.Parse()

	root, err := os.OpenRoot(*dir)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServerFS(root.FS())))
	mux.HandleFunc("/tar/", func(w http.ResponseWriter, r *http.Request) {
		rel := strings.Trim(strings.TrimPrefix(r.URL.Path, "/tar/"), "/")
		if !fs.ValidPath(rel) {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-tar")
		if err := writeTar(w, root.FS(), rel); err != nil {
			log.Printf("tar %s: %v", rel, err)
		}
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving %s on http://%s", *dir, ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}

// writeTar streams rel and everything below it, names relative to rel's parent.
func writeTar(w io.Writer, fsys fs.FS, rel string) error {
	tw := tar.NewWriter(w)
	parent := filepath.Dir(rel)
	err := fs.WalkDir(fsys, rel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		name, _ := filepath.Rel(parent, p)
		hdr.Name = filepath.ToSlash(name)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
