package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"strings"

	"github.com/relais-bot/relais/bridge"
)

// Charts are SVG written here, inline in the page: no script, no file from outside. Only
// numbers and escaped labels go into them. Colours are presentation attributes, which the
// CSP (no inline style) allows.

const (
	colourBar   = "#2b6cb0"
	colourToday = "#dd6b20"
	colourAxis  = "#718096"
)

// bars draws one bar per value, oldest left; label(i) is each bar's tooltip.
func bars(values []int, width, height int, label func(i int) string) template.HTML {
	peak := 1
	for _, v := range values {
		peak = max(peak, v)
	}
	n := max(1, len(values))
	slot := float64(width) / float64(n)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, width, height+16, width, height+16)
	fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1"/>`, height, width, height, colourAxis)
	for i, v := range values {
		h := float64(v) / float64(peak) * float64(height-4)
		colour := colourBar
		if i == len(values)-1 {
			colour = colourToday
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
			float64(i)*slot+1, float64(height)-h, max(1, slot-2), h, colour, html.EscapeString(label(i)))
	}
	fmt.Fprintf(&b, `<text x="0" y="%d" font-size="11" fill="%s">0</text><text x="%d" y="%d" font-size="11" fill="%s" text-anchor="end">max %d</text>`,
		height+13, colourAxis, width, height+13, colourAxis, peak)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: built above from numbers and escaped labels
}

// sparkline is a small line of a series, for tables.
func sparkline(values []int) template.HTML {
	const w, h = 120, 24
	peak := 1
	for _, v := range values {
		peak = max(peak, v)
	}
	var pts []string
	for i, v := range values {
		x := 0.0
		if len(values) > 1 {
			x = float64(i) * float64(w) / float64(len(values)-1)
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, float64(h-2)-float64(v)/float64(peak)*float64(h-4)))
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg" aria-hidden="true"><polyline fill="none" stroke="%s" stroke-width="2" points="%s"/></svg>`,
		w, h, w, h, colourBar, strings.Join(pts, " ")))
}

// heatmap draws messages per weekday (rows, Monday first) and hour (columns); messages(n)
// says a cell's count after its weekday and hour.
func heatmap(hours bridge.HoursOfWeek, days, weekdays []string, messages func(n int) string) template.HTML {
	const cell, left, top = 22, 40, 18
	peak := 0
	for _, v := range hours {
		peak = max(peak, v)
	}
	width, height := left+24*cell, top+7*cell
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, width, height, width, height)
	for h := 0; h < 24; h += 3 {
		fmt.Fprintf(&b, `<text x="%d" y="12" font-size="11" fill="%s">%dh</text>`, left+h*cell+2, colourAxis, h)
	}
	for d := range 7 {
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="12" fill="%s">%s</text>`, top+d*cell+15, colourAxis, html.EscapeString(days[d]))
		for h := range 24 {
			v := hours[d*24+h]
			opacity := 0.06
			if peak > 0 && v > 0 {
				opacity = 0.15 + 0.85*float64(v)/float64(peak)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="%s" fill-opacity="%.2f"><title>%s %dh%s</title></rect>`,
				left+h*cell, top+d*cell, cell-2, cell-2, colourBar, opacity, html.EscapeString(weekdays[d]), h, html.EscapeString(messages(v)))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
