// Package share is this machine's side of Porch's file sharing: the catalog of
// items the user shared, the index of every shared tree, content ids built from
// block hashes (cached on disk), safe resolution of requested paths through
// os.Root, validation of names that come from other machines, the leak guard
// for likely secrets, and the download store where fetched files land.
//
// It knows nothing of the network or of any GUI; it uses only the standard
// library.
package share
