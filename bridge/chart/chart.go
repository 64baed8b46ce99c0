// Package chart draws the PNG that /stats sends beside its text: messages per day over the
// window and members active per week. It holds counts only, never a name. Rendered in Go
// with gonum.org/v1/plot, so nothing leaves the machine to draw it.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// MaxBytes bounds a chart: it travels in a reply (events.MaxPhotoBytes).
const MaxBytes = 40 << 10

// Labels are the chart's words, in the organiser's language (message file group "chart",
// package locale); the title is the caller's.
type Labels struct {
	Title                          string `locale:"-"`
	Days, Weeks, Messages, Members string
}

var (
	blue   = color.RGBA{R: 0x2b, G: 0x6c, B: 0xb0, A: 0xff}
	orange = color.RGBA{R: 0xdd, G: 0x6b, B: 0x20, A: 0xff}
)

// Stats draws messages per day (oldest first, today last) above active members per week.
func Stats(l Labels, perDay, activePerWeek []int) ([]byte, error) {
	if len(perDay) == 0 {
		return nil, errors.New("chart: no days")
	}
	top := plot.New()
	top.Title.Text = l.Title
	top.Y.Label.Text = l.Messages
	top.X.Label.Text = l.Days
	top.Y.Min = 0
	days := make(plotter.Values, len(perDay))
	for i, v := range perDay {
		days[i] = float64(v)
	}
	bars, err := plotter.NewBarChart(days, vg.Points(max(2, 420/float64(len(perDay)))))
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	bars.Color, bars.LineStyle.Width = blue, 0
	top.Add(bars)
	top.NominalX(dayLabels(len(perDay))...)

	bottom := plot.New()
	bottom.Y.Label.Text = l.Members
	bottom.X.Label.Text = l.Weeks
	bottom.Y.Min = 0
	pts := make(plotter.XYs, len(activePerWeek))
	for i, v := range activePerWeek {
		pts[i].X, pts[i].Y = float64(i-len(activePerWeek)+1), float64(v)
	}
	if len(pts) > 0 {
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		line.Color, line.Width = orange, vg.Points(2)
		points.Color = orange
		bottom.Add(line, points)
		bottom.X.Min, bottom.X.Max = pts[0].X-0.3, 0.3
	}

	// White, not transparent: chat apps in dark mode would draw black axes on black.
	img := vgimg.NewWith(vgimg.UseWH(vg.Points(560), vg.Points(400)), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(10), PadY: vg.Points(14)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	if buf.Len() > MaxBytes {
		return nil, fmt.Errorf("chart: %d bytes, over %d", buf.Len(), MaxBytes)
	}
	return buf.Bytes(), nil
}

// dayLabels names every seventh day by its distance from today (-28, -21, … 0).
func dayLabels(n int) []string {
	out := make([]string, n)
	for i := range out {
		if back := n - 1 - i; back%7 == 0 {
			out[i] = fmt.Sprintf("-%d", back)
			if back == 0 {
				out[i] = "0"
			}
		}
	}
	return out
}
