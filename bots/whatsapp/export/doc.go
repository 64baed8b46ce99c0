// Package export reads a WhatsApp "Exporter la discussion" / "Export chat" file (the .txt,
// or the .zip as the phone shares it) into relais events, for issue #25 ("leaders on day
// one"). It owns the export's layouts and nothing else: it opens no connection, publishes
// nothing and is wired into no command yet (a later `relais import --group` calls Read or
// ReadZip and publishes what emit receives).
//
// The file is read as a stream, line by line; message text is counted (events carry Chars
// only, as live events do) and dropped at once: it never reaches an event, an error or a
// log. Layouts are unconfirmed and vary by phone, locale and version; what is understood:
//
//   - Android `06/03/2024 14:05 - Nom: texte` and `3/6/24, 2:05 PM - Name: text` (dots or
//     dashes as date separators, 12 h clocks with a space, U+00A0 or U+202F before AM/PM);
//   - iOS `[06/03/2024 14:05:33] Nom: texte` and `[3/6/24, 2:05:33 PM] Name: text`, with
//     the U+200E marks iOS adds before the line, attachments and notices;
//   - continuation lines (no date prefix) extend the previous message: they add to its Chars;
//   - system lines in French and English: joins (added, joined by link, created the group)
//     and leaves (left, removed) become KindJoin/KindLeave; other notices are skipped;
//   - media (`<Médias omis>`, `<Media omitted>`, `‎image absente`, `<attached: …>`) is a
//     message of 0 chars; a deleted message is skipped.
//
// The layout of the first dated line is kept for the whole file: a continuation line shaped
// like another layout's header is text, not a new message.
//
// Day order (06/03 or 03/06) is decided from the file: a date valid in one order only settles
// it. Until then parsed lines wait in memory (counts only, never text); if the file never
// settles it, Options.Layout decides, else the language of the notices (French: day first),
// else the clock (12 h: month first, as US phones write it), else day first. Summary says
// which order was used and why.
//
// Identity: an export carries no platform ids. A sender shown as a phone number becomes
// "<digits>@s.whatsapp.net" with Phone "+<digits>", the id a live event gives a member known
// by phone. A sender shown as a name is passed to Options.Resolve (the caller maps the
// exporting phone's contact names to members it knows); an unresolved name gets the pseudo id
// "export:<32 hex of sha256(group id, NUL, name)>": stable across runs of the same file, one
// per group (a contact name is the exporting phone's label, not a person), and never a JID
// (no "@") nor an erasure pseudonym (no leading "~"). events.Event.Validate accepts it.
//
// Mentions ("@Marie Dupont", "@33612345678") resolve to a member only by a name or a
// number the export showed earlier (as a sender or in a notice): the file is read once, and
// digits never seen may be a LID rather than a phone. Exports carry no replies: ReplyTo and
// Target stay empty.
//
// Event ids are "whatsapp:<group user>:export:<32 hex>", the group part written as live
// events write it (the JID's user, before "@"), the hex a sha256 of the group, kind, sender,
// local wall time and the ordinal of the line among identical (kind, sender, time) lines:
// the same file gives the same ids, whatever Since, Before or Location, so an import run
// twice changes nothing. The ordinal counts deleted messages too, so a message deleted
// between two exports does not shift its neighbours' ids.
package export
