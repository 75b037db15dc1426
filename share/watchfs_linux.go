package share

import "golang.org/x/sys/unix"

// remoteFS names filesystems, by statfs magic number, whose changes made on
// other machines raise no notifications here (network and FUSE filesystems).
var remoteFS = map[int64]string{
	0x6969:     "NFS",
	0x517b:     "SMB",
	0xff534d42: "CIFS",
	0xfe534d42: "SMB2",
	0x65735546: "FUSE",
	0x01021997: "9p",
	0x00c36400: "Ceph",
	0x564c:     "NCP",
	0x5346414f: "AFS",
}

// noNotifications says why changes in dir would go unnoticed by change
// notifications, or "" when they are delivered.
func noNotifications(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return ""
	}
	if name, ok := remoteFS[int64(st.Type)]; ok {
		return "it is on a " + name + " filesystem, whose changes from other machines send no notifications"
	}
	return ""
}

// processAlive reports whether a process with this id runs.
func processAlive(pid int) bool {
	return pid > 0 && unix.Kill(pid, 0) != unix.ESRCH
}
