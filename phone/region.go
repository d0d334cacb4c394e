package phone

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// RegionNonGeographic is the region of numbers that belong to no country:
// +800, +808, +870, +878, +881, +882, +883, +888, +979 (international
// networks, satellite phones).
const RegionNonGeographic = "001"

// ValidRegion reports whether region (ISO 3166-1 alpha-2, any case) is one
// whose numbers Parse knows, so it can be a default region.
func ValidRegion(region string) bool {
	return len(region) == 2 && phonenumbers.GetSupportedRegions()[strings.ToUpper(region)]
}
