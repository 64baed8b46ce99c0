package locale

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

var pluralType = reflect.TypeFor[Plural]()

// Fill sets the fields of the struct dst points to from the messages group.Field of lang:
// a string field gets the text as written, a []string field the text split at commas (day
// names), a Plural field the message with its plural forms. A field tagged `locale:"Id"` is
// read from group.Id instead (go-i18n reserves keys such as "other"); `locale:"-"` and
// unexported fields are left alone. Fill fails on the first missing or ill-formed message,
// naming it.
func Fill(lang, group string, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return errors.New("locale: fill wants a pointer to a struct")
	}
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key := f.Name
		if tag, ok := f.Tag.Lookup("locale"); ok {
			key = tag
		}
		if !f.IsExported() || key == "-" {
			continue
		}
		id := group + "." + key
		field := v.Field(i)
		switch {
		case f.Type == pluralType:
			p, err := PluralText(lang, id)
			if err != nil {
				return err
			}
			field.Set(reflect.ValueOf(p))
		case f.Type.Kind() == reflect.String:
			s, err := Text(lang, id)
			if err != nil {
				return err
			}
			field.SetString(s)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			s, err := Text(lang, id)
			if err != nil {
				return err
			}
			parts := strings.Split(s, ",")
			for i := range parts {
				parts[i] = strings.TrimSpace(parts[i])
			}
			field.Set(reflect.ValueOf(parts).Convert(f.Type))
		default:
			return fmt.Errorf("locale: %s: field %s of type %s cannot hold a message", id, f.Name, f.Type)
		}
	}
	return nil
}
