// Package share is this machine's side of Porch's file sharing: the catalog of
// items the user shared, the index of every shared tree, content ids built from
// block hashes (cached on disk), safe resolution of requested paths through
// os.Root, validation of names that come from other machines, the leak guard
// for likely secrets, and the download store where fetched files land.
//
// It knows nothing of the network or of any GUI; besides the standard
// library it uses only its subpackage db.
//
// State on disk: DATA/shares.json (the catalog, written atomically) and the
// hashes table of DATA/porch.db (package db): block hashes keyed by absolute
// path, size, modification time and inode, written in transactions as files
// are hashed. A download in progress is "<name>.<12 hex of its content
// id>.partial" beside "<...>.partial.state" in the download folder; ValidateName
// refuses names ending in those suffixes, so no remote name can collide with
// them.
//
// What is served: only files listed in the index, opened through the os.Root of
// their item. Symbolic links are followed only to files inside the same item
// (never to folders), likely secrets are left out unless
// LibraryOptions.IncludeSecrets is set, Porch's own data folder always is, and
// names another peer would refuse (see ValidateName) are not listed. Each item
// has a Visibility (every neighbour, trusted ones, chosen ones pinned by key),
// kept in the catalog; a View is the library as one neighbour may see it,
// with the items it may not see absent from every lookup. Who a neighbour is
// (its key, whether it is trusted) is the caller's business, not this
// package's.
package share
