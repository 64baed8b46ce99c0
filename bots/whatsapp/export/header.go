package export

import (
	"strings"
	"unicode/utf8"
)

// DayOrder is how the date fields of an export are read.
type DayOrder uint8

const (
	OrderUnknown DayOrder = iota
	DayFirst              // 06/03/2024: 6 March (French, most of Europe, UK English)
	MonthFirst            // 3/6/24: 6 March (US English)
	YearFirst             // 2024-03-06 (some Asian and Nordic locales)
)

func (o DayOrder) String() string {
	switch o {
	case DayFirst:
		return "day-first"
	case MonthFirst:
		return "month-first"
	case YearFirst:
		return "year-first"
	}
	return "unknown"
}

// shape is what a file's dated lines share. It is taken from the first one and required of
// every later one, so that text quoting another layout's header stays text.
type shape struct {
	bracket  bool // iOS: "[date, time] "
	sep      byte // date separator: '/', '.' or '-'
	year4    bool
	yearLead bool // year first
	seconds  bool
	twelve   bool // AM/PM clock
}

// stamp is a dated line's fields as written, before the day order is known.
type stamp struct {
	a, b, year       int // a and b are day and month in an order yet to be decided
	hour, min, sec   int
	validDF, validMF bool // whether the date exists read day-first, month-first
}

// parseHeader reads the date prefix of a line. It returns the rest of the line (sender and
// text, or a notice) and ok=false when the line has no date prefix.
func parseHeader(s string) (st stamp, sh shape, rest string, ok bool) {
	p := s
	if strings.HasPrefix(p, "[") {
		sh.bracket = true
		p = p[1:]
	}
	// Date: three numeric fields.
	var n1, n2, n3, w1, w3 int
	if n1, w1, p, ok = number(p, 4); !ok || len(p) == 0 {
		return st, sh, "", false
	}
	sh.sep = p[0]
	if sh.sep != '/' && sh.sep != '.' && sh.sep != '-' {
		return st, sh, "", false
	}
	p = p[1:]
	if n2, _, p, ok = number(p, 2); !ok || len(p) == 0 || p[0] != sh.sep {
		return st, sh, "", false
	}
	p = p[1:]
	if n3, w3, p, ok = number(p, 4); !ok {
		return st, sh, "", false
	}
	switch {
	case w1 == 4 && w3 <= 2:
		sh.yearLead, sh.year4 = true, true
		st.year, st.a, st.b = n1, n2, n3 // year, month, day
	case w1 <= 2 && (w3 == 2 || w3 == 4):
		sh.year4 = w3 == 4
		st.a, st.b, st.year = n1, n2, n3
		if w3 == 2 {
			st.year += 2000
		}
	default:
		return st, sh, "", false
	}
	if st.year < firstYear {
		return st, sh, "", false
	}
	// Between date and time: ", " or " " (some locales put a dot after the year).
	p = strings.TrimPrefix(p, ".")
	p = strings.TrimPrefix(p, ",")
	if !strings.HasPrefix(p, " ") {
		return st, sh, "", false
	}
	p = p[1:]
	// Time: H:MM[:SS][ AM|PM].
	if st.hour, _, p, ok = number(p, 2); !ok || len(p) == 0 || p[0] != ':' {
		return st, sh, "", false
	}
	if st.min, _, p, ok = exact2(p[1:]); !ok {
		return st, sh, "", false
	}
	if len(p) > 0 && p[0] == ':' {
		if st.sec, _, p, ok = exact2(p[1:]); !ok {
			return st, sh, "", false
		}
		sh.seconds = true
	}
	var pm bool
	if q, isPM, found := meridiem(p); found {
		sh.twelve, pm, p = true, isPM, q
	}
	if sh.twelve {
		if st.hour > 12 {
			return st, sh, "", false
		}
		st.hour %= 12
		if pm {
			st.hour += 12
		}
	}
	if st.hour > 23 || st.min > 59 || st.sec > 59 {
		return st, sh, "", false
	}
	// End of the prefix: "] " (iOS) or " - " (Android; some versions an en dash).
	if sh.bracket {
		if !strings.HasPrefix(p, "] ") {
			return st, sh, "", false
		}
		p = p[2:]
	} else {
		switch {
		case strings.HasPrefix(p, " - "):
			p = p[3:]
		case strings.HasPrefix(p, " – "):
			p = p[len(" – "):]
		default:
			return st, sh, "", false
		}
	}
	if sh.yearLead {
		st.validMF = validDate(st.year, st.a, st.b)
	} else {
		st.validDF = validDate(st.year, st.b, st.a)
		st.validMF = validDate(st.year, st.a, st.b)
	}
	if !st.validDF && !st.validMF {
		return st, sh, "", false
	}
	return st, sh, p, true
}

// number reads 1 to max ASCII digits.
func number(s string, max int) (n, width int, rest string, ok bool) {
	for width < len(s) && width < max && s[width] >= '0' && s[width] <= '9' {
		n = n*10 + int(s[width]-'0')
		width++
	}
	if width == 0 || (width < len(s) && s[width] >= '0' && s[width] <= '9') {
		return 0, 0, s, false
	}
	return n, width, s[width:], true
}

// exact2 reads exactly two digits (minutes, seconds).
func exact2(s string) (n, width int, rest string, ok bool) {
	n, width, rest, ok = number(s, 2)
	return n, width, rest, ok && width == 2
}

// meridiem reads an AM/PM marker after the time: "PM", "pm", "p.m.", "p. m.", after a
// space, a no-break space or the narrow no-break space (U+202F) recent Android versions
// write, or none.
func meridiem(s string) (rest string, pm, ok bool) {
	p := s
	for _, sp := range []string{" ", "\u202f", "\u00a0"} {
		if strings.HasPrefix(p, sp) {
			p = p[len(sp):]
			break
		}
	}
	if len(p) == 0 {
		return s, false, false
	}
	switch p[0] {
	case 'a', 'A':
	case 'p', 'P':
		pm = true
	default:
		return s, false, false
	}
	for _, m := range []string{"m.", "M", "m", ". m.", ".m.", ". M.", ".M."} {
		if strings.HasPrefix(p[1:], m) {
			q := p[1+len(m):]
			// The marker must end there: "Am" in "14:05 Amélie" is not one.
			if r, _ := utf8.DecodeRuneInString(q); q != "" && r != ' ' && r != ']' && r != ',' {
				continue
			}
			return q, pm, true
		}
	}
	return s, false, false
}

// firstYear is when WhatsApp began: an earlier "date" is text (and year 0 would not
// even encode).
const firstYear = 2009

var daysIn = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func validDate(year, month, day int) bool {
	if month < 1 || month > 12 || day < 1 || day > daysIn[month] {
		return false
	}
	leap := year%4 == 0 && (year%100 != 0 || year%400 == 0)
	return month != 2 || day <= 28 || leap
}
