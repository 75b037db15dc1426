package share

import (
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
	t := &tree{byName: map[string]*node{}, byCID: map[string][]*node{}}
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
		if top != nil {
			used[it.Path] = true
			t.items = append(t.items, top)
			t.byName[top.name] = top
			st.Files, st.Bytes = top.files, top.size
			if !top.dir {
				st.Files = 1
			}
			t.files += st.Files
			t.bytes += top.size
			walkNodes(top, func(n *node) {
				fmt.Fprintf(sig, "%s\x00%t\x00%d\x00%d\x00%d\n", n.path, n.dir, n.size, n.mtime.UnixNano(), n.ino)
				if fh := n.hash.Load(); fh != nil && !n.dir {
					t.byCID[fh.cid] = append(t.byCID[fh.cid], n)
					top.hashed.Add(n.size)
					t.hashed.Add(n.size)
				}
			})
		}
		t.status = append(t.status, st)
		t.tops = append(t.tops, top)
	}
	sortNodes(t.items)
	t.sig = sig.Sum64()
	l.tree.Store(t)
	for p, r := range l.roots {
		if !used[p] {
			r.root.Close()
			delete(l.roots, p)
		}
	}
	return t.sig != old.sig, nil
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
		r.root.Close()
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

// scanItem indexes one item, reusing content ids from old.
func (l *Library) scanItem(it Item, old *tree, st *ItemStatus) (*node, error) {
	if !l.opts.IncludeSecrets && inSecret(it.Path) {
		st.Secrets = []string{"."}
		return nil, nil
	}
	r, err := l.rootFor(it)
	if err != nil {
		return nil, err
	}
	if r.single != "" {
		fi, err := r.root.Stat(r.single)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", it.Path)
		}
		n := &node{name: it.Name, path: it.Name, root: r, rel: r.single}
		n.top = n
		l.fillFile(n, fi, old)
		return n, nil
	}
	fi, err := r.root.Stat(".")
	if err != nil {
		return nil, err
	}
	if os.SameFile(fi, l.dataID) {
		st.Secrets = []string{"."}
		return nil, nil
	}
	top := &node{name: it.Name, path: it.Name, dir: true, mtime: fi.ModTime(), root: r, rel: "."}
	top.top = top
	l.scanDir(top, top, 1, old, st)
	return top, nil
}

// scanDir fills dir's children from disk. depth is dir's number of tree path
// components.
func (l *Library) scanDir(dir, top *node, depth int, old *tree, st *ItemStatus) {
	f, err := dir.root.root.Open(filepath.FromSlash(dir.rel))
	if err != nil {
		l.log.Debug("cannot read folder", "path", dir.path, "err", err)
		return
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		l.log.Debug("cannot read folder", "path", dir.path, "err", err)
	}
	for _, e := range ents {
		name := e.Name()
		if ValidateName(name) != nil {
			continue // a name other machines would refuse anyway
		}
		rel := path.Join(dir.rel, name)
		if !l.opts.IncludeSecrets && IsSecretName(name) {
			if len(st.Secrets) < maxSecretsPer {
				st.Secrets = append(st.Secrets, strings.TrimPrefix(rel, "./"))
			}
			continue
		}
		p := dir.path + "/" + name
		if len(p) > MaxPathBytes || depth+1 > MaxDepth {
			continue
		}
		var fi fs.FileInfo
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0:
			// Followed only inside the root; folders are never followed.
			fi, err = dir.root.root.Stat(filepath.FromSlash(rel))
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if !l.opts.IncludeSecrets && dir.root.linksToSecret(rel) {
				if len(st.Secrets) < maxSecretsPer {
					st.Secrets = append(st.Secrets, rel)
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
					st.Secrets = append(st.Secrets, rel)
				}
				continue
			}
			c := &node{name: name, path: p, dir: true, mtime: fi.ModTime(), root: dir.root, rel: rel, top: top}
			l.scanDir(c, top, depth+1, old, st)
			dir.add(c)
			continue
		case t.IsRegular():
			fi, err = e.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
		default:
			continue // devices, pipes, sockets
		}
		c := &node{name: name, path: p, root: dir.root, rel: rel, top: top}
		l.fillFile(c, fi, old)
		dir.add(c)
	}
	sortNodes(dir.children)
}

// add appends child c to folder n and adds up its totals.
func (n *node) add(c *node) {
	if n.byName == nil {
		n.byName = map[string]*node{}
	}
	n.children = append(n.children, c)
	n.byName[c.name] = c
	n.size += c.size
	if c.dir {
		n.files += c.files
	} else {
		n.files++
	}
}

// fillFile sets a file node's stat fields and, when this version was hashed
// before, its content id.
func (l *Library) fillFile(n *node, fi fs.FileInfo, old *tree) {
	n.size, n.mtime, n.ino = fi.Size(), fi.ModTime(), inodeOf(fi)
	if o := old.lookup(n.path); o != nil && !o.dir && o.root == n.root && o.rel == n.rel && o.sameVersion(n) {
		if fh := o.hash.Load(); fh != nil {
			n.hash.Store(fh)
			return
		}
	}
	if fh := l.cache.get(n.absPath(), n.key()); fh != nil {
		n.hash.Store(fh)
	}
}

func (n *node) key() fileKey {
	return fileKey{Size: n.size, MTime: n.mtime.UnixNano(), Ino: n.ino}
}

func (n *node) absPath() string {
	return filepath.Join(n.root.dir, filepath.FromSlash(n.rel))
}

func (n *node) sameVersion(o *node) bool {
	return n.size == o.size && n.mtime.Equal(o.mtime) && n.ino == o.ino
}

func (n *node) entry() Entry {
	e := Entry{Name: n.name, Path: n.path, Size: n.size, Dir: n.dir, ModTime: n.mtime, Files: n.files}
	if fh := n.hash.Load(); fh != nil {
		e.ContentID = fh.cid
	}
	return e
}

// sortNodes orders folders first, then names case-insensitively.
func sortNodes(ns []*node) {
	slices.SortFunc(ns, func(a, b *node) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		if c := strings.Compare(FoldKey(a.name), FoldKey(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
}

// walkNodes calls fn on n and everything below it, pre-order.
func walkNodes(n *node, fn func(*node)) {
	fn(n)
	for _, c := range n.children {
		walkNodes(c, fn)
	}
}
