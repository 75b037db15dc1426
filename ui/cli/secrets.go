package cli

import (
	"fmt"
	"text/tabwriter"

	"porch/share"
	"porch/share/db"
)

// cmdShareSecrets lists the shared files held back because their content
// looks like a secret, or, as "share secrets release PATH..." and "share
// secrets keep PATH...", records the user's decision and asks the running
// Porch to apply it.
func cmdShareSecrets(o *options) error {
	var verb string
	var paths []string
	if len(o.args) > 0 {
		verb, paths = o.args[0], o.args[1:]
		if verb != "release" && verb != "keep" {
			return usageError("unknown action %q (release or keep)", verb)
		}
		if len(paths) == 0 {
			return usageError("%s needs at least one PATH", verb)
		}
		if o.bool("json") {
			return usageError("--json lists; it takes no action")
		}
	}
	cat, err := share.OpenCatalog(o.dataDir)
	if err != nil {
		return err
	}
	d, err := db.Open(o.dataDir)
	if err != nil {
		return err
	}
	defer d.Close()
	if verb == "" {
		list, err := share.ListSecrets(d, cat.Items())
		if err != nil {
			return err
		}
		if o.bool("json") {
			return o.printJSON(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(o.stdout, "No shared file looks like a secret.")
			return nil
		}
		tw := tabwriter.NewWriter(o.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "STATUS\tRULE\tSHARED AS\tFILE")
		for _, f := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Status, f.Rule, f.Path, f.Local)
		}
		return tw.Flush()
	}
	for _, p := range paths {
		f, err := share.DecideSecret(d, cat.Items(), p, verb == "release")
		if err != nil {
			return err
		}
		if verb == "release" {
			fmt.Fprintf(o.stdout, "released %s (it looked like %s): it is shared\n", f.Path, f.Rule)
		} else {
			fmt.Fprintf(o.stdout, "keeping %s private (it looked like %s): it is not shared, and not asked about again\n", f.Path, f.Rule)
		}
	}
	// A running Porch re-reads the decisions when it rescans.
	return share.RequestRescan(o.dataDir)
}
