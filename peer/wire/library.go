package wire

import "porch/share"

// LibraryOf adapts a *share.Library to the Library a Server serves.
func LibraryOf(l *share.Library) Library { return shareLibrary{l} }

type shareLibrary struct{ *share.Library }

func (l shareLibrary) Open(p string) (File, error) {
	f, err := l.Library.Open(p)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (l shareLibrary) OpenContent(cid string) (File, error) {
	f, err := l.Library.OpenContent(cid)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ViewOf adapts a *share.View (the library as one neighbour may see it) to
// the Library a Server serves, for ServerOptions.ViewFor.
func ViewOf(v *share.View) Library { return shareView{v} }

type shareView struct{ *share.View }

func (v shareView) Open(p string) (File, error) {
	f, err := v.View.Open(p)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (v shareView) OpenContent(cid string) (File, error) {
	f, err := v.View.OpenContent(cid)
	if err != nil {
		return nil, err
	}
	return f, nil
}
