package share

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Rescan walks every shared item now and publishes the new index. Files whose
// size, time and inode did not change keep their content id; others get one
// from the hash cache or wait for hashing.
func (l *Library) Rescan() error {
	changed, err := l.rescan()
	if changed {
		l.version.Add(1)
		l.notify(true)
	}
	return err
}

// rescan builds and publishes a new snapshot and reports whether it differs
// from the previous one.
func (l *Library) rescan() (bool, error) {
	l.scanMu.Lock()
	defer l.scanMu.Unlock()
	if l.closed {
		return false, errors.New("library: closed")
	}
	old := l.tree.Load()
	items := l.cat.Items()
	t := &tree{byName: map[string]int{}}
	sig := fnv.New64a()
	used := map[string]bool{}
	for _, it := range items {
		st := ItemStatus{Item: it}
		top, err := l.scanItem(it, old, &st)
		if err != nil {
			st.Err = err.Error()
			top = nil
		}
		fmt.Fprintf(sig, "%s\x00%s\x00%s\x00%d\n", it.Name, it.Path, st.Err, len(st.Secrets))
		// Who may see an item is part of what neighbours are shown: a change
		// moves the index version, so none keeps a listing made before it.
		fmt.Fprintf(sig, "%t %t", it.To.Restricted, it.To.Trusted)
		for _, p := range it.To.Peers {
			fmt.Fprintf(sig, " %s", p.Fingerprint)
		}
		fmt.Fprintln(sig)
		t.tops = append(t.tops, -1)
		if top != nil {
			used[it.Path] = true
			st.Files, st.Bytes = top.files, top.size
			t.files += st.Files
			t.bytes += top.size
			fmt.Fprintf(sig, "%x\n", top.sig)
			t.items = append(t.items, topItem{f: top, status: len(t.status)})
		}
		t.status = append(t.status, st)
	}
	slices.SortFunc(t.items, func(a, b topItem) int {
		if a.f.single != b.f.single {
			if b.f.single {
				return -1
			}
			return 1
		}
		return compareNames(a.name(), b.name())
	})
	t.folderIdx = make(map[*folder]int32, len(old.folders))
	t.folders = make([]*folder, 0, len(old.folders))
	for i := range t.items {
		it := &t.items[i]
		t.tops[it.status] = i
		t.byName[it.name()] = i
		it.first = len(t.folders)
		it.f.eachFolder(func(f *folder) {
			t.folderIdx[f] = int32(len(t.folders))
			t.folders = append(t.folders, f)
		})
		it.end = len(t.folders)
	}
	t.sig = sig.Sum64()
	// Content ids set from here on are set under hashMu on the snapshot
	// then current, so every one is either in t's map already or set on t.
	l.hashMu.Lock()
	t.mu.Lock()
	t.byCID = make(map[uint64]uint64, len(old.byCID))
	t.more = map[uint64][]uint64{}
	for fi, f := range t.folders {
		for i := f.ndirs; i < len(f.kids); i++ {
			if d, ok := f.slot(i).digest(); ok {
				t.addCIDLocked(d, fileRef(fi, i))
			}
		}
	}
	t.mu.Unlock()
	l.tree.Store(t)
	l.hashMu.Unlock()
	for p, r := range l.roots {
		if !used[p] {
			r.close()
			delete(l.roots, p)
		}
	}
	return t.sig != old.sig, nil
}

// compareNames orders names case-insensitively, then byte by byte.
func compareNames(a, b string) int {
	if c := strings.Compare(FoldKey(a), FoldKey(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// rootFor returns the os.Root for item, reopening it if the path now names a
// different folder or file.
func (l *Library) rootFor(it Item) (*itemRoot, error) {
	fi, err := os.Stat(it.Path)
	if err != nil {
		return nil, err
	}
	dir, single := it.Path, ""
	if !fi.IsDir() {
		real, err := filepath.EvalSymlinks(it.Path)
		if err != nil {
			return nil, err
		}
		dir, single = filepath.Dir(real), filepath.Base(real)
	}
	if r := l.roots[it.Path]; r != nil {
		if r.single == single && r.dir == dir {
			if cur, err := os.Stat(dir); err == nil && os.SameFile(cur, r.id) {
				return r, nil
			}
		}
		r.close()
		delete(l.roots, it.Path)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	id, err := root.Stat(".")
	if err != nil {
		root.Close()
		return nil, err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		root.Close()
		return nil, err
	}
	r := &itemRoot{root: root, dir: dir, single: single, id: id, real: real}
	if folder, err := root.Open("."); err == nil {
		r.folder = folder
	}
	l.roots[it.Path] = r
	return r, nil
}

// inSecret reports whether any component of the absolute path p is a likely
// secret (sharing "~/.ssh/keys" is as bad as sharing "~/.ssh").
func inSecret(p string) bool {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part != "" && IsSecretName(part) {
			return true
		}
	}
	return false
}

// linksToSecret reports whether the symbolic link at rel resolves to a likely
// secret inside the root ("photo.jpg" -> ".ssh/id_rsa"), or cannot be
// resolved. The link is served through os.Root either way; this only keeps a
// harmless-looking name from exposing a file the leak guard hides.
func (r *itemRoot) linksToSecret(rel string) bool {
	real, err := filepath.EvalSymlinks(filepath.Join(r.dir, filepath.FromSlash(rel)))
	if err != nil {
		return true
	}
	inside, err := filepath.Rel(r.real, real)
	if err != nil || !filepath.IsLocal(inside) {
		return true
	}
	return inSecret(inside)
}

// scanItem indexes one item, reusing what old holds of it.
func (l *Library) scanItem(it Item, old *tree, st *ItemStatus) (*folder, error) {
	if !l.opts.IncludeSecrets && inSecret(it.Path) {
		st.Secrets = []string{"."}
		return nil, nil
	}
	r, err := l.rootFor(it)
	if err != nil {
		return nil, err
	}
	var was *folder
	if i, ok := old.byName[it.Name]; ok && old.items[i].f.root == r {
		was = old.items[i].f
	}
	if r.single != "" {
		fi, err := r.root.Stat(r.single)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", it.Path)
		}
		if was != nil && !was.single {
			was = nil
		}
		ents := []scanEntry{{name: it.Name, size: fi.Size(), mtime: fi.ModTime().UnixNano(), ino: inodeOf(fi)}}
		return l.build(&folder{root: r, single: true}, nil, ents, was), nil
	}
	fi, err := r.root.Stat(".")
	if err != nil {
		return nil, err
	}
	if os.SameFile(fi, l.dataID) {
		st.Secrets = []string{"."}
		return nil, nil
	}
	if was != nil && was.single {
		was = nil
	}
	return l.scanDir(r, it.Name, ".", fi.ModTime().UnixNano(), 1, was, st), nil
}

// scanEntry is one child found on disk, before its folder is built.
type scanEntry struct {
	name  string
	size  int64
	mtime int64
	ino   uint64
	sub   *folder // a folder's own index; nil for a file
}

// scanDir indexes the folder at rel in r, whose tree path p has depth
// components, reusing old (the same folder in the previous snapshot, or
// nil) where nothing changed.
func (l *Library) scanDir(r *itemRoot, p, rel string, mtime int64, depth int, old *folder, st *ItemStatus) *folder {
	var dirs, files []scanEntry
	f, err := r.root.Open(filepath.FromSlash(rel))
	if err != nil {
		l.log.Debug("cannot read folder", "path", p, "err", err)
	} else {
		ents, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			l.log.Debug("cannot read folder", "path", p, "err", err)
		}
		for _, e := range ents {
			name := e.Name()
			if ValidateName(name) != nil {
				continue // a name other machines would refuse anyway
			}
			crel := path.Join(rel, name)
			if !l.opts.IncludeSecrets && IsSecretName(name) {
				if len(st.Secrets) < maxSecretsPer {
					st.Secrets = append(st.Secrets, strings.TrimPrefix(crel, "./"))
				}
				continue
			}
			cp := p + "/" + name
			if len(cp) > MaxPathBytes || depth+1 > MaxDepth {
				continue
			}
			var fi fs.FileInfo
			switch t := e.Type(); {
			case t&fs.ModeSymlink != 0:
				// Followed only inside the root; folders are never followed.
				fi, err = r.root.Stat(filepath.FromSlash(crel))
				if err != nil || !fi.Mode().IsRegular() {
					continue
				}
				if !l.opts.IncludeSecrets && r.linksToSecret(crel) {
					if len(st.Secrets) < maxSecretsPer {
						st.Secrets = append(st.Secrets, crel)
					}
					continue
				}
			case t.IsDir():
				fi, err = e.Info()
				if err != nil {
					continue
				}
				if os.SameFile(fi, l.dataID) {
					if len(st.Secrets) < maxSecretsPer {
						st.Secrets = append(st.Secrets, crel)
					}
					continue
				}
				var was *folder
				if old != nil {
					if i := old.find(name, 1); i >= 0 {
						was = old.subs[i]
					}
				}
				sub := l.scanDir(r, cp, crel, fi.ModTime().UnixNano(), depth+1, was, st)
				dirs = append(dirs, scanEntry{name: name, mtime: sub.mtime, sub: sub})
				continue
			case t.IsRegular():
				fi, err = e.Info()
				if err != nil || !fi.Mode().IsRegular() {
					continue
				}
			default:
				continue // devices, pipes, sockets
			}
			files = append(files, scanEntry{name: name, size: fi.Size(), mtime: fi.ModTime().UnixNano(), ino: inodeOf(fi)})
		}
	}
	return l.build(&folder{root: r, path: p, rel: rel, mtime: mtime}, dirs, files, old)
}

// build fills f from its subfolders and files (in any order) and returns
// it, or old instead when old holds just the same. A file whose version is
// the one old lists keeps old's content id; any other takes the hash
// cache's, if it has one.
func (l *Library) build(f *folder, dirs, files []scanEntry, old *folder) *folder {
	byName := func(a, b scanEntry) int { return compareNames(a.name, b.name) }
	slices.SortFunc(dirs, byName)
	slices.SortFunc(files, byName)
	n := 0
	for _, e := range dirs {
		n += len(e.name)
	}
	for _, e := range files {
		n += len(e.name)
	}
	f.names = make([]byte, 0, n)
	f.kids = make([]kid, 0, len(dirs)+len(files))
	f.ndirs = len(dirs)
	f.subs = make([]*folder, len(dirs))
	f.cids = make([]cidSlot, len(files))
	sig := fnv.New64a()
	var b [8 * 4]byte
	add := func(e scanEntry, dir bool) {
		k := kid{name: uint32(len(f.names)), nlen: uint16(len(e.name)), dir: dir, size: e.size, mtime: e.mtime, ino: e.ino}
		f.names = append(f.names, e.name...)
		f.kids = append(f.kids, k)
		binary.LittleEndian.PutUint64(b[0:], uint64(k.size))
		binary.LittleEndian.PutUint64(b[8:], uint64(k.mtime))
		binary.LittleEndian.PutUint64(b[16:], k.ino)
		if dir {
			binary.LittleEndian.PutUint64(b[24:], e.sub.sig)
		} else {
			binary.LittleEndian.PutUint64(b[24:], 0)
		}
		sig.Write([]byte(e.name))
		sig.Write(b[:])
	}
	binary.LittleEndian.PutUint64(b[0:], uint64(f.mtime))
	sig.Write(b[:8])
	for i, e := range dirs {
		f.subs[i] = e.sub
		e.size = e.sub.size
		add(e, true)
		f.size += e.sub.size
		f.files += e.sub.files
		f.nodes += 1 + e.sub.nodes
	}
	for _, e := range files {
		add(e, false)
		f.size += e.size
		f.files++
		f.nodes++
	}
	f.sig = sig.Sum64()
	if old != nil && old.root == f.root && old.sig == f.sig && old.sameAs(f) {
		return old
	}
	for i := f.ndirs; i < len(f.kids); i++ {
		k := &f.kids[i]
		if old != nil && old.root == f.root {
			if j := old.find(f.name(i), 0); j >= 0 && old.key(j) == f.key(i) {
				if d, ok := old.slot(j).digest(); ok {
					f.slot(i).set(d)
					f.hashed.Add(k.size)
					continue
				}
			}
		}
		if fh := l.cache.get(f.childAbs(i), f.key(i)); fh != nil {
			f.slot(i).set(digestOf(fh.cid))
			f.hashed.Add(k.size)
		}
	}
	return f
}

// sameAs reports whether o lists just what f lists, with the very same
// folders below.
func (f *folder) sameAs(o *folder) bool {
	return f.root == o.root && f.path == o.path && f.rel == o.rel && f.single == o.single && f.mtime == o.mtime &&
		f.ndirs == o.ndirs && bytes.Equal(f.names, o.names) && slices.Equal(f.kids, o.kids) && slices.Equal(f.subs, o.subs)
}
