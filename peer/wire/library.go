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
