/* xdnd-drop: drops files onto an X11 window, speaking XDND (v5) as the drag source, so a test
 * can drag a folder into a real window under Xvfb without a window manager or a mouse.
 *
 *   cc -o xdnd-drop scripts/xdnd-drop.c -lX11
 *   DISPLAY=:99 ./xdnd-drop "Porch" /path/to/folder [more paths...]
 *
 * It finds the top-level window titled exactly NAME (waiting up to 10 s for it to appear), sends
 * XdndEnter offering text/uri-list, XdndPosition at the window's centre, waits for an accepting
 * XdndStatus, sends XdndDrop, answers the target's SelectionRequest with the file:// URI list and
 * waits for XdndFinished. Exit status 0 when the target accepted the drop, 1 otherwise. */
#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static Display *dpy;
static Atom atom(const char *name) { return XInternAtom(dpy, name, False); }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int titled(Window w, const char *want) {
  Atom type; int format; unsigned long n, after; unsigned char *data = NULL; int ok = 0;
  if (XGetWindowProperty(dpy, w, atom("_NET_WM_NAME"), 0, 1024, False, atom("UTF8_STRING"),
                         &type, &format, &n, &after, &data) == Success && data) {
    ok = strcmp((char *)data, want) == 0;
    XFree(data);
  }
  char *name = NULL;
  if (!ok && XFetchName(dpy, w, &name) && name) {
    ok = strcmp(name, want) == 0;
    XFree(name);
  }
  return ok;
}

static Window find(Window w, const char *want, int depth) {
  if (titled(w, want)) return w;
  Window root, parent, *kids = NULL, found = None;
  unsigned n = 0;
  if (depth == 0 || !XQueryTree(dpy, w, &root, &parent, &kids, &n)) return None;
  for (unsigned i = 0; i < n && found == None; i++) found = find(kids[i], want, depth - 1);
  if (kids) XFree(kids);
  return found;
}

static void send(Window to, const char *type, long l0, long l1, long l2, long l3, long l4) {
  XEvent e;
  memset(&e, 0, sizeof e);
  e.xclient.type = ClientMessage;
  e.xclient.window = to;
  e.xclient.message_type = atom(type);
  e.xclient.format = 32;
  long l[5] = {l0, l1, l2, l3, l4};
  memcpy(e.xclient.data.l, l, sizeof l);
  XSendEvent(dpy, to, False, NoEventMask, &e);
  XFlush(dpy);
}

/* next waits for an event until deadline; 0 on timeout. */
static int next(XEvent *ev, double deadline) {
  while (!XPending(dpy)) {
    double left = deadline - now();
    if (left <= 0) return 0;
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(ConnectionNumber(dpy), &fds);
    struct timeval tv = {(long)left, (long)((left - (long)left) * 1e6)};
    select(ConnectionNumber(dpy) + 1, &fds, NULL, NULL, &tv);
  }
  XNextEvent(dpy, ev);
  return 1;
}

static void uri_append(char *out, size_t cap, const char *path) {
  size_t n = strlen(out);
  n += snprintf(out + n, cap - n, "file://");
  for (const unsigned char *p = (const unsigned char *)path; *p && n + 4 < cap; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("/-._~", *p))
      out[n++] = *p;
    else
      n += snprintf(out + n, cap - n, "%%%02X", *p);
  }
  snprintf(out + n, cap - n, "\r\n");
}

static int fail(const char *msg) { fprintf(stderr, "xdnd-drop: %s\n", msg); return 1; }

/* trace notes one step of the exchange on stderr, so a failure shows how far it got. */
static void trace(const char *what, Atom a) {
  char *name = a != None ? XGetAtomName(dpy, a) : NULL;
  fprintf(stderr, "xdnd-drop: %.3f %s %s\n", now(), what, name ? name : "-");
  if (name) XFree(name);
}

int main(int argc, char **argv) {
  if (argc < 3) return fprintf(stderr, "usage: xdnd-drop WINDOW-NAME PATH...\n"), 2;
  static char uris[65536];
  for (int i = 2; i < argc; i++) {
    char abs[PATH_MAX];
    if (!realpath(argv[i], abs)) return perror(argv[i]), 1;
    uri_append(uris, sizeof uris, abs);
  }
  if (!(dpy = XOpenDisplay(NULL))) return fail("cannot open display");
  Window root = DefaultRootWindow(dpy), target = None;
  for (double end = now() + 10; (target = find(root, argv[1], 3)) == None && now() < end;)
    usleep(100000);
  if (target == None) return fail("no window with that title");

  Atom type; int format; unsigned long n, after; unsigned char *data = NULL; long version = 0;
  if (XGetWindowProperty(dpy, target, atom("XdndAware"), 0, 1, False, AnyPropertyType, &type,
                         &format, &n, &after, &data) == Success && data && n == 1)
    version = *(long *)data;
  if (data) XFree(data);
  if (version < 3) return fail("window is not XdndAware (version 3 or later)");
  if (version > 5) version = 5;

  Window src = XCreateSimpleWindow(dpy, root, 0, 0, 1, 1, 0, 0, 0);
  XSetSelectionOwner(dpy, atom("XdndSelection"), src, CurrentTime);
  XWindowAttributes wa;
  XGetWindowAttributes(dpy, target, &wa);
  int x, y; Window child;
  XTranslateCoordinates(dpy, target, root, wa.width / 2, wa.height / 2, &x, &y, &child);

  Atom urilist = atom("text/uri-list");
  trace("enter and position, offering", urilist);
  send(target, "XdndEnter", src, version << 24, urilist, None, None);
  send(target, "XdndPosition", src, 0, (x << 16) | y, CurrentTime, atom("XdndActionCopy"));
  double deadline = now() + 10;
  int dropped = 0;
  XEvent ev;
  while (next(&ev, deadline)) {
    if (ev.type == ClientMessage && ev.xclient.message_type == atom("XdndStatus") && !dropped) {
      trace(ev.xclient.data.l[1] & 1 ? "status: accepts, action" : "status: refuses, action",
            (Atom)ev.xclient.data.l[4]);
      if (!(ev.xclient.data.l[1] & 1)) {
        send(target, "XdndLeave", src, 0, 0, 0, 0);
        return fail("window refused the drag");
      }
      trace("drop", None);
      send(target, "XdndDrop", src, 0, CurrentTime, 0, 0);
      dropped = 1;
    } else if (ev.type == SelectionRequest) {
      XSelectionRequestEvent *rq = &ev.xselectionrequest;
      trace("selection request for", rq->target);
      trace("  into property", rq->property);
      XEvent re;
      memset(&re, 0, sizeof re);
      re.xselection.type = SelectionNotify;
      re.xselection.requestor = rq->requestor;
      re.xselection.selection = rq->selection;
      re.xselection.target = rq->target;
      re.xselection.time = rq->time;
      re.xselection.property = None;
      if (rq->target == urilist) {
        Atom prop = rq->property != None ? rq->property : rq->target;
        XChangeProperty(dpy, rq->requestor, prop, urilist, 8, PropModeReplace,
                        (unsigned char *)uris, (int)strlen(uris));
        re.xselection.property = prop;
      }
      XSendEvent(dpy, rq->requestor, False, NoEventMask, &re);
      XFlush(dpy);
    } else if (ev.type == ClientMessage && ev.xclient.message_type == atom("XdndFinished")) {
      /* XDND puts "accepted" in bit 0 of l[1]; GLFW sends the byte length of the URI list
       * there instead (0 when it got nothing), so any non-zero value means accepted. */
      int accepted = ev.xclient.data.l[1] != 0;
      trace(accepted ? "finished: accepted, action" : "finished: rejected, action",
            (Atom)ev.xclient.data.l[2]);
      if (version >= 5 && !accepted) return fail("window did not accept the drop");
      printf("dropped %d path(s) on window 0x%lx\n", argc - 2, target);
      return 0;
    } else if (ev.type == ClientMessage) {
      trace("other message", ev.xclient.message_type);
    }
  }
  return fail(dropped ? "no XdndFinished within 10 s" : "no XdndStatus within 10 s");
}
