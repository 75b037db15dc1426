package peer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"porch/share/db"
)

// ErrSettings is wrapped by SetSettings when the settings cannot be used.
var ErrSettings = errors.New("invalid settings")

// Settings are the user's choices, kept in the data folder's database so
// that every data folder (every copy of Porch) has its own.
type Settings struct {
	Name        string `json:"name"`         // display name on the network
	DownloadDir string `json:"download_dir"` // where the window's downloads land
	Visible     bool   `json:"visible"`      // announce this computer on the network
	MaxUpload   int64  `json:"max_upload"`   // bytes per second shared by all uploads; 0 = unlimited
	// Accept is which offers are taken without asking; "" means the
	// default of the face: ask in the window, none elsewhere.
	Accept AcceptPolicy `json:"accept,omitempty"`
}

// settingsStore keeps Settings as JSON under db.SettingsKey in the settings
// table of DATA/porch.db (which imported settings.json once). It holds no
// state of its own; the engine serialises its saves.
type settingsStore struct {
	db *db.DB
}

// load returns the saved settings; ok is false when none were saved.
func (f settingsStore) load() (s Settings, ok bool, err error) {
	raw, ok, err := f.db.Setting(db.SettingsKey)
	if err != nil || !ok {
		return Settings{}, false, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return Settings{}, false, fmt.Errorf("settings in %s: %w", f.db.Path(), err)
	}
	return s, true, nil
}

// save replaces the saved settings with s.
func (f settingsStore) save(s Settings) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return f.db.SetSetting(db.SettingsKey, b)
}

// initialSettings starts from the defaults, applies the saved settings and
// then the Options given for this run.
func (e *Engine) initialSettings() Settings {
	s := Settings{Visible: true}
	saved, ok, err := e.conf.load()
	if err != nil {
		e.log.Warn("ignoring unreadable settings; the defaults apply until they are saved again", "err", err)
	}
	if ok {
		s = saved
	}
	if e.opts.Name != "" {
		s.Name = e.opts.Name
	}
	if e.opts.DownloadDir != "" {
		s.DownloadDir = e.opts.DownloadDir
	}
	if e.opts.MaxUpload > 0 {
		s.MaxUpload = e.opts.MaxUpload
	}
	if e.opts.Hidden {
		s.Visible = false
	}
	if e.opts.Accept != "" {
		s.Accept = e.opts.Accept
	}
	s = normalSettings(s)
	if _, err := ParseAcceptPolicy(string(s.Accept)); err != nil {
		s.Accept = e.defaultAccept()
	}
	return s
}

// normalSettings fills empty fields with their defaults.
func normalSettings(s Settings) Settings {
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" {
		s.Name, _ = os.Hostname()
		if s.Name == "" {
			s.Name = "porch"
		}
	}
	s.DownloadDir = strings.TrimSpace(s.DownloadDir)
	if s.DownloadDir == "" {
		s.DownloadDir = DefaultDownloadDir()
	}
	s.MaxUpload = max(s.MaxUpload, 0)
	return s
}

// Settings returns the settings in force.
func (e *Engine) Settings() Settings {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.settings
}

// SetSettings applies s at once (the new name and visibility are announced,
// the upload limit holds for uploads in progress) and saves it in the data
// folder, replacing what Options overrode for this run. An empty display
// name or a negative upload limit is refused with an error wrapping
// ErrSettings; an empty download folder means the default one.
func (e *Engine) SetSettings(s Settings) error {
	if strings.TrimSpace(s.Name) == "" {
		return fmt.Errorf("%w: the display name is empty; give this computer a name", ErrSettings)
	}
	if s.MaxUpload < 0 {
		return fmt.Errorf("%w: the upload limit is negative; give a speed, or 0 for no limit", ErrSettings)
	}
	if s.Accept == "" {
		s.Accept = e.defaultAccept()
	} else if _, err := ParseAcceptPolicy(string(s.Accept)); err != nil {
		return err
	}
	s = normalSettings(s)
	e.setMu.Lock()
	defer e.setMu.Unlock()
	e.mu.Lock()
	e.settings = s
	e.mu.Unlock()
	e.disc.SetName(s.Name)
	if !e.opts.ClientOnly {
		e.disc.SetAnnounce(s.Visible)
		e.srv.SetMaxUpload(s.MaxUpload)
	}
	err := e.conf.save(s)
	e.emit(Event{Kind: SettingsChanged})
	if err != nil {
		return fmt.Errorf("settings are in force but could not be saved for the next start: %w", err)
	}
	return nil
}
